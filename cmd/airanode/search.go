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

	"github.com/airanode/airanode/identity"
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
			"that propose candidates (random, evolution). `search launch` signs it with this node's identity\n" +
			"and stores it in the node's store under --data-dir; the node gossips it and runs its agents,\n" +
			"which build only on verified scores. `search list` and `search status` report progress.\n\n" +
			"These commands read and write the store directly, so they run while no node holds the data\n" +
			"directory (docs/search.md).",
	}
	cmd.AddCommand(newSearchLaunchCmd(), newSearchListCmd(), newSearchStatusCmd(), newSearchPresetsCmd())
	return cmd
}

func newSearchLaunchCmd() *cobra.Command {
	var preset string
	var asJSON, dryRun bool
	cmd := &cobra.Command{
		Use:   "launch spec.json | --preset NAME",
		Short: "Sign a search spec with this node's identity and store it",
		Long: "launch reads a search spec (JSON: name, description, space, protocol or protocol_object,\n" +
			"budget, policy, agents, seed; docs/search.md) or a preset (`search presets` lists them),\n" +
			"checks it (primitives, space, protocol, agents and their parameters), signs it with the\n" +
			"node's identity and stores it with its protocol object. It prints the search's CID, which\n" +
			"names it everywhere. Launching the same spec again is the same search. --dry-run checks and\n" +
			"prints without storing anything.",
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
			var l search.Launched
			if dryRun {
				s, p, err := spec.Build(identity.PeerID(sk), nil)
				if err != nil {
					return err
				}
				pc, _ := p.CID()
				env, err := object.Seal(sk, object.KindSearch, s)
				if err != nil {
					return err
				}
				sc, _, err := object.SealedCID(env)
				if err != nil {
					return err
				}
				l = search.Launched{CID: sc, Search: s, Envelope: env, Protocol: pc}
			} else if l, err = search.Launch(st, sk, spec); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return searchJSON(out, struct {
					CID      string        `json:"cid"`
					Search   object.Search `json:"search"`
					Protocol string        `json:"protocol"`
					Stored   bool          `json:"stored"`
				}{l.CID.String(), l.Search, l.Protocol.String(), !dryRun})
			}
			verb := "launched"
			if dryRun {
				verb = "checked (not stored: --dry-run)"
			}
			fmt.Fprintf(out, "search %s %s\n  cid      %s\n", l.Search.Name, verb, l.CID)
			printSearchObject(out, l.Search)
			if !dryRun {
				fmt.Fprintf(out, "stored in %s: the node on this data directory gossips the searches it launched and runs their agents.\n",
					filepath.Join(searchDataDir(cmd), searchStoreDir))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&preset, "preset", "", "launch a built-in spec: "+strings.Join(search.Presets(), ", "))
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check and print the search without storing it")
	return cmd
}

func newSearchListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the searches the node holds, with their progress",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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

func newSearchStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status NAME|CID",
		Short: "Show a search's progress: budget used, verified and disputed tasks, best verified so far",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := searchOpenStore(cmd, false)
			if err != nil {
				return searchNotFound(err, args[0])
			}
			defer st.Close()
			info, err := registry.FindSearch(st, args[0])
			if err != nil {
				return err
			}
			s, err := search.StatusOf(searchContext(cmd), st, registry.New(st, nil), info)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return searchJSON(out, struct {
					Status search.Status `json:"status"`
					Search object.Search `json:"spec"`
				}{s, info.Search})
			}
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
			for _, a := range s.Agents {
				fmt.Fprintf(out, "  agent    %s: %d proposed\n", a.Name, a.Proposed)
			}
			printSearchObject(out, info.Search)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
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

// searchDataDir returns the configured data directory ("" when the config does not load).
func searchDataDir(cmd *cobra.Command) string {
	c, err := loadConfig(cmd)
	if err != nil {
		return ""
	}
	return c.DataDir
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
