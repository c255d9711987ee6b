package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/identity"
	"github.com/airanode/airanode/node"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/search"
	"github.com/airanode/airanode/store"
)

// searchStoreDir is the store's directory inside the data directory (node.StoreDir).
const searchStoreDir = "store"

// errSearchNoStore means the data directory holds no store yet.
var errSearchNoStore = errors.New("no store")

func newSearchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Launch community architecture searches and follow their progress",
		Long: "A search states a space of architectures (primitives, depth, width, parameter budget), an\n" +
			"evaluation protocol, a budget of candidate evaluations, a verification policy and the agents\n" +
			"that propose candidates (random, evolution). `search launch` has the node running on\n" +
			"--data-dir sign, store and gossip it and run its agents, which build only on verified scores.\n" +
			"`search list` and `search status` report progress.\n\n" +
			"While a node runs on the data directory these commands go through its control API; with no\n" +
			"node running they read and write the store directly (docs/search.md).",
	}
	cmd.AddCommand(newSearchLaunchCmd(), newSearchListCmd(), newSearchStatusCmd(), newSearchJoinCmd(), newSearchPresetsCmd())
	return cmd
}

func newSearchLaunchCmd() *cobra.Command {
	var preset string
	var asJSON, dryRun bool
	cmd := &cobra.Command{
		Use:   "launch spec.json | --preset NAME",
		Short: "Launch a search: sign its spec with this node's identity, store it, run its agents",
		Long: "launch reads a search spec (JSON: name, description, space, protocol or protocol_object,\n" +
			"budget, policy, agents, seed; docs/search.md) or a preset (`search presets` lists them),\n" +
			"checks it (primitives, space, protocol, agents and their parameters), signs it with the\n" +
			"node's identity and stores it with its protocol object. It prints the search's CID, which\n" +
			"names it everywhere. Launching the same spec again is the same search. --dry-run checks and\n" +
			"prints without storing anything.\n\n" +
			"With a node running on --data-dir, the node does it (through its control API): it stores the\n" +
			"search, gossips it to the network and runs its agents. With none running, launch writes the\n" +
			"store directly; a node started later on the data directory (same identity) offers the search\n" +
			"to its peers by sync and runs its agents.",
		Example: "  airanode search launch --preset mad-lite-small\n" +
			"  airanode search launch spec.json --json\n" +
			"  airanode search launch --preset demo --dry-run",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var spec search.Spec
			var err error
			switch {
			case len(args) == 1 && preset != "":
				return fmt.Errorf("%w: give a spec file or --preset, not both", search.ErrSpec)
			case len(args) == 1:
				spec, err = search.LoadSpec(args[0])
			case preset != "":
				spec, err = search.Preset(preset)
			default:
				return fmt.Errorf("%w: give a spec file or --preset (%s)", search.ErrSpec, strings.Join(search.Presets(), ", "))
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if ok, err := viaNode(cmd, func(ctx context.Context, cl *api.Client, dir string) error {
				req := api.LaunchRequest{Preset: preset, DryRun: dryRun}
				if preset == "" {
					req.Spec = &spec
				}
				resp, err := cl.LaunchSearch(ctx, req)
				if err != nil {
					return err
				}
				var note string
				switch {
				case resp.Running:
					note = fmt.Sprintf("the node on %s stored it, gossips it and runs its agents.", dir)
				case resp.Stored:
					note = fmt.Sprintf("the node on %s stored it and gossips it (another node runs its agents).", dir)
				}
				return searchPrintLaunch(out, resp, asJSON, note)
			}); ok {
				return err
			}
			c, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			sk, err := identity.Load(filepath.Join(c.DataDir, identity.FileName))
			if err != nil {
				return fmt.Errorf("%w (run `airanode init` to create the node identity)", err)
			}
			var st *store.Store
			if !dryRun {
				st, err = searchOpenStore(cmd, true)
				if err != nil {
					return err
				}
				defer st.Close()
			}
			launch := search.Launch
			if dryRun {
				launch = search.Prepare
			}
			l, err := launch(st, sk, spec)
			if err != nil {
				return err
			}
			var note string
			if !dryRun {
				note = fmt.Sprintf("stored in %s. No node runs on this data directory: one started there offers the search "+
					"to its peers (by sync) and runs its agents.", filepath.Join(c.DataDir, searchStoreDir))
			}
			resp := api.LaunchResponse{CID: l.CID.String(), Search: l.Search, Protocol: l.Protocol.String(), Stored: !dryRun}
			return searchPrintLaunch(out, resp, asJSON, note)
		},
	}
	cmd.Flags().StringVar(&preset, "preset", "", "launch a built-in spec: "+strings.Join(search.Presets(), ", "))
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check and print the search without storing it")
	return cmd
}

// searchPrintLaunch prints a launched (or, not stored, checked) search, then note.
func searchPrintLaunch(w io.Writer, r api.LaunchResponse, asJSON bool, note string) error {
	if asJSON {
		return searchJSON(w, r)
	}
	verb := "launched"
	if !r.Stored {
		verb = "checked (not stored: --dry-run)"
	}
	fmt.Fprintf(w, "search %s %s\n  cid      %s\n", r.Search.Name, verb, r.CID)
	printSearchObject(w, r.Search)
	if note != "" {
		fmt.Fprintln(w, note)
	}
	return nil
}

func newSearchListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the searches the node holds, with their progress",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ok, err := viaNode(cmd, func(ctx context.Context, cl *api.Client, _ string) error {
				sts, err := cl.Searches(ctx)
				if err != nil {
					return err
				}
				return searchPrintList(cmd.OutOrStdout(), sts, asJSON)
			}); ok {
				return err
			}
			st, err := searchOpenStore(cmd, false)
			if errors.Is(err, errSearchNoStore) {
				return searchPrintList(cmd.OutOrStdout(), nil, asJSON)
			}
			if err != nil {
				return err
			}
			defer st.Close()
			infos, err := registry.Searches(st)
			if err != nil {
				return err
			}
			reg := registry.New(st, nil)
			sts := make([]search.Status, 0, len(infos))
			for _, info := range infos {
				s, err := search.StatusOf(searchContext(cmd), st, reg, info)
				if err != nil {
					return err
				}
				sts = append(sts, s)
			}
			return searchPrintList(cmd.OutOrStdout(), sts, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func searchPrintList(w io.Writer, sts []search.Status, asJSON bool) error {
	if sts == nil {
		sts = []search.Status{}
	}
	if asJSON {
		return searchJSON(w, sts)
	}
	if len(sts) == 0 {
		fmt.Fprintln(w, "no searches (launch one with `airanode search launch --preset mad-lite-small`)")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCID\tSTATE\tUSED\tVERIFIED\tBEST")
	for _, s := range sts {
		best := "-"
		if s.Best != nil {
			best = search.FormatScore(s.Best.Score) + "  " + s.Best.Spelling
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%s\n", s.Name, s.Search, s.State, s.Used, s.Budget, s.Verified, best)
	}
	return tw.Flush()
}

func newSearchJoinCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "join NAME|CID",
		Short: "Run the agents of a search launched elsewhere on this node too (through the running node)",
		Long: "join makes the running node propose candidates for a search it holds but did not launch:\n" +
			"it starts the search's agents here (and again after restarts). Proposals from every node\n" +
			"merge by architecture CID, and the search's budget counts every node's tasks. Every node\n" +
			"already claims and trains the tasks of every search it hears of; join is only about proposing.",
		Example: "  airanode search join demo",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return nodeOnly(cmd, func(ctx context.Context, cl *api.Client) error {
				d, err := cl.JoinSearch(ctx, args[0])
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if asJSON {
					return searchJSON(out, d)
				}
				fmt.Fprintf(out, "this node now runs the agents of search %s (%s): %d/%d evaluations started, %d verified\n",
					d.Status.Name, d.Status.Search, d.Status.Used, d.Status.Budget, d.Status.Verified)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newSearchStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status NAME|CID",
		Short: "Show a search's progress: budget used, verified and disputed tasks, best verified so far",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return nodeOrStore(cmd, args[0],
				func(ctx context.Context, cl *api.Client) (api.SearchDetail, error) { return cl.Search(ctx, args[0]) },
				func(ctx context.Context, st *store.Store) (api.SearchDetail, error) {
					info, err := registry.FindSearch(st, args[0])
					if err != nil {
						return api.SearchDetail{}, err
					}
					s, err := search.StatusOf(ctx, st, registry.New(st, nil), info)
					return api.SearchDetail{Status: s, Search: info.Search}, err
				},
				func(d api.SearchDetail) error { return searchPrintStatus(cmd.OutOrStdout(), d, asJSON) })
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// searchPrintStatus prints a search's progress and spec.
func searchPrintStatus(out io.Writer, d api.SearchDetail, asJSON bool) error {
	if asJSON {
		return searchJSON(out, d)
	}
	s := d.Status
	pct := 0
	if s.Budget > 0 {
		pct = int(int64(s.Used) * 100 / s.Budget)
	}
	fmt.Fprintf(out, "search %s (%s): %s\n", s.Name, s.Search, s.State)
	fmt.Fprintf(out, "  budget   %d/%d evaluations started (%d%%)\n", s.Used, s.Budget, pct)
	fmt.Fprintf(out, "  tasks    %d settled: %d verified, %d disputed; %d pending\n", s.Settled, s.Verified, s.Disputed, s.Pending)
	if s.Best != nil {
		fmt.Fprintf(out, "  best     %s  %s  (%s)\n", search.FormatScore(s.Best.Score), s.Best.Spelling, s.Best.Arch)
	} else {
		fmt.Fprintf(out, "  best     none verified yet\n")
	}
	if d.Running {
		fmt.Fprintf(out, "  runner   this node runs the agents: %d of its tasks in flight\n", s.InFlight)
	}
	for _, a := range s.Agents {
		fmt.Fprintf(out, "  agent    %s: %d proposed\n", a.Name, a.Proposed)
	}
	printSearchObject(out, d.Search)
	return nil
}

func newSearchPresetsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "presets",
		Short: "List the built-in search specs and agents",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			specs := map[string]search.Spec{}
			for _, n := range search.Presets() {
				s, err := search.Preset(n)
				if err != nil {
					return err
				}
				specs[n] = s
			}
			if asJSON {
				return searchJSON(out, struct {
					Presets map[string]search.Spec `json:"presets"`
					Agents  []search.AgentInfo     `json:"agents"`
				}{specs, search.Agents()})
			}
			fmt.Fprintln(out, "presets:")
			for _, n := range search.Presets() {
				fmt.Fprintf(out, "  %-16s %s\n", n, specs[n].Description)
			}
			fmt.Fprintln(out, "agents:")
			for _, a := range search.Agents() {
				fmt.Fprintf(out, "  %-16s %s\n", a.Name, a.Doc)
				for _, p := range a.Params {
					def := ""
					if p.Default != 0 {
						def = fmt.Sprintf(" (default %d)", p.Default)
					}
					fmt.Fprintf(out, "  %-16s   %s%s: %s\n", "", p.Name, def, p.Doc)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (presets as spec files)")
	return cmd
}

// printSearchObject prints the spec part of a search.
func printSearchObject(w io.Writer, s object.Search) {
	sp := s.Space
	prims := "any"
	if len(sp.Primitives) > 0 {
		prims = strings.Join(sp.Primitives, " ")
	}
	width := "any"
	if sp.MaxWidth > 0 {
		width = fmt.Sprintf("%d-%d", sp.MinWidth, sp.MaxWidth)
		if sp.MinWidth == sp.MaxWidth {
			width = fmt.Sprint(sp.MinWidth)
		}
	}
	params := ""
	if sp.MaxParams > 0 {
		params = fmt.Sprintf(", at most %d parameters", sp.MaxParams)
	}
	fmt.Fprintf(w, "  space    %s, depth %d-%d, width %s%s\n", prims, sp.MinDepth, sp.MaxDepth, width, params)
	fmt.Fprintf(w, "  protocol %s (%s)\n", s.ProtocolName, s.Protocol)
	p := s.Policy
	fmt.Fprintf(w, "  budget   %d evaluations; verification: %d replicas, quorum %d\n", s.Budget, p.Replicas, p.Quorum)
	var agents []string
	for _, a := range s.Agents {
		keys := make([]string, 0, len(a.Params))
		for k := range a.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var ps []string
		for _, k := range keys {
			ps = append(ps, fmt.Sprintf("%s=%d", k, a.Params[k]))
		}
		if len(ps) > 0 {
			agents = append(agents, a.Name+"("+strings.Join(ps, ", ")+")")
		} else {
			agents = append(agents, a.Name)
		}
	}
	fmt.Fprintf(w, "  agents   %s; seed %d\n", strings.Join(agents, ", "), s.Seed)
	if s.Description != "" {
		fmt.Fprintf(w, "  about    %s\n", s.Description)
	}
}

// searchOpenStore opens the store of the data directory. Without create, a data directory that
// has no store gives errSearchNoStore (nothing is created by a query).
func searchOpenStore(cmd *cobra.Command, create bool) (*store.Store, error) {
	c, err := loadConfig(cmd)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.DataDir, searchStoreDir)
	if !create {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w in %s (nothing launched or synced there yet)", errSearchNoStore, c.DataDir)
		}
	} else if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		return nil, fmt.Errorf("open store %s (a node running on this data directory holds it; stop it, "+
			"or use another --data-dir): %w", dir, err)
	}
	return st, nil
}

// errNoRunningNode means that no node runs on the data directory (or none answers there).
var errNoRunningNode = errors.New("no running node")

// runningNode returns a client of the control API of the node running on the data directory: the
// --api address when given (explicit), else the address the node wrote into its info file
// (node.json). It returns a nil client when neither is there: no node runs on the data directory.
func runningNode(cmd *cobra.Command) (cl *api.Client, explicit bool, dataDir string, err error) {
	a, err := resolveAPI(cmd)
	if a.loaded && !a.explicit && !a.fromInfo {
		// The configuration read, no --api and no info file: no node runs here, the store tells
		// the rest.
		return nil, false, a.dataDir, nil
	}
	if err != nil {
		return nil, a.explicit, a.dataDir, err
	}
	cl, err = api.NewClient(a.addr)
	return cl, a.explicit, a.dataDir, err
}

// viaNode runs f with the control API of the node running on the data directory and reports
// whether it did (ok). It did not when no node runs there, or when the node's info file names an
// API that does not answer (a node that was killed): the caller then uses the store itself. With
// --api given there is no such fallback: an API that does not answer is the error.
func viaNode(cmd *cobra.Command, f func(ctx context.Context, cl *api.Client, dataDir string) error) (ok bool, err error) {
	cl, explicit, dir, err := runningNode(cmd)
	if err != nil {
		return true, err
	}
	if cl == nil {
		return false, nil
	}
	defer cl.CloseIdle()
	err = f(searchContext(cmd), cl, dir)
	if api.IsUnavailable(err) && !explicit {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: %s names a node that does not answer (%v); reading the store directly\n",
			filepath.Join(dir, node.InfoFile), err)
		return false, nil
	}
	return true, err
}

// nodeOrStore answers a query through the running node's control API (online) when viaNode can,
// else from the data directory's store opened read-only (offline), and hands the answer to emit. A
// store that cannot be opened is reported as ref not found (searchNotFound).
func nodeOrStore[T any](cmd *cobra.Command, ref string, online func(context.Context, *api.Client) (T, error),
	offline func(context.Context, *store.Store) (T, error), emit func(T) error) error {
	if ok, err := viaNode(cmd, func(ctx context.Context, cl *api.Client, _ string) error {
		v, err := online(ctx, cl)
		if err != nil {
			return err
		}
		return emit(v)
	}); ok {
		return err
	}
	st, err := searchOpenStore(cmd, false)
	if err != nil {
		return searchNotFound(err, ref)
	}
	defer st.Close()
	v, err := offline(searchContext(cmd), st)
	if err != nil {
		return err
	}
	return emit(v)
}

// nodeOnly runs f with the control API of the node running on the data directory; without one it
// is an errNoRunningNode error.
func nodeOnly(cmd *cobra.Command, f func(ctx context.Context, cl *api.Client) error) error {
	cl, _, dir, err := runningNode(cmd)
	if err != nil {
		return err
	}
	if cl == nil {
		return fmt.Errorf("%w on %s (start one with `airanode run`, or give --api)", errNoRunningNode, dir)
	}
	defer cl.CloseIdle()
	err = f(searchContext(cmd), cl)
	if api.IsUnavailable(err) {
		return fmt.Errorf("%w on %s: %w", errNoRunningNode, dir, err)
	}
	return err
}

// searchNotFound turns a missing store into the not-found answer of a query about ref.
func searchNotFound(err error, ref string) error {
	if errors.Is(err, errSearchNoStore) {
		return fmt.Errorf("%w: %q: %w", registry.ErrNotFound, ref, err)
	}
	return err
}

func searchJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func searchContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
