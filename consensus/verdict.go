package consensus

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
)

// SignedResult is the envelope bytes of a Result sealed with object.KindResult.
type SignedResult []byte

// SignedAttestation is the envelope bytes of an Attestation sealed with object.KindAttestation.
type SignedAttestation []byte

// State is where a task stands.
type State uint8

// The states of a task.
const (
	// Pending: every vote so far agrees, but there are fewer than the quorum.
	Pending State = iota
	// Verified: a group of agreeing results reached the quorum with a majority; the score stands.
	Verified
	// NeedsMore: the votes disagree and no group has a majority yet: one more vote is needed,
	// from a peer chosen by PickExtra (or PickVerifier for a cheap check).
	NeedsMore
	// Disputed: no majority after Replicas+MaxExtra votes, or more voters than the policy ever
	// asks for. No score stands; the candidate is re-run as a new task.
	Disputed
)

// MarshalText encodes the state as its name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a state name.
func (s *State) UnmarshalText(b []byte) error {
	for c := Pending; c <= Disputed; c++ {
		if c.String() == string(b) {
			*s = c
			return nil
		}
	}
	return fmt.Errorf("consensus: unknown state %q", b)
}

func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Verified:
		return "verified"
	case NeedsMore:
		return "needs-more"
	case Disputed:
		return "disputed"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Reasons an object is ignored (Ignored.Err wraps one of them), and errors of Verdict's own
// arguments.
var (
	// ErrEnvelope: the envelope does not open (bad signature, foreign domain, garbage) or holds
	// another kind of object.
	ErrEnvelope = errors.New("consensus: envelope does not open")
	// ErrMalformedObject: the payload is not a canonical, valid object of its kind.
	ErrMalformedObject = errors.New("consensus: malformed object")
	// ErrOtherTask: the object is about another task.
	ErrOtherTask = errors.New("consensus: object for another task")
	// ErrWrongSigner: the Executor or Verifier field is not the envelope's signer.
	ErrWrongSigner = errors.New("consensus: author field is not the signer")
	// ErrDuplicate: the same object again (a replay), or another result of one executor with the
	// same content; it counts once.
	ErrDuplicate = errors.New("consensus: duplicate")
	// ErrEquivocation: the signer sent conflicting results, or agreed and disagreed about the
	// same content; all its objects for the task are ignored and it is rejected.
	ErrEquivocation = errors.New("consensus: equivocation")
	// ErrUnknownResult: an attestation of a result that is not counted (not held, or ignored).
	ErrUnknownResult = errors.New("consensus: attestation of an uncounted result")
	// ErrSelfAttestation: an executor of the task attests; its vote is its result.
	ErrSelfAttestation = errors.New("consensus: attestation by an executor of the task")
	// ErrClassMismatch: a verifier of another reproducibility class cannot reproduce bits.
	ErrClassMismatch = errors.New("consensus: attestation from another reproducibility class")
	// ErrSegmentRange: the attested segment is not in the result.
	ErrSegmentRange = errors.New("consensus: attested segment outside the result")
	// ErrInconsistent: the attestation's verdict contradicts its own digest and score.
	ErrInconsistent = errors.New("consensus: attestation verdict contradicts its digest and score")
	// ErrBadArgument: Verdict was called with an invalid task CID or policy (a caller's bug,
	// not peer input).
	ErrBadArgument = errors.New("consensus: bad argument")
)

// maxGroups bounds the pairwise comparison of distinct results. More distinct results than this
// can only be a flood (the policy never asks for more than 2*MaxReplicas votes).
const maxGroups = 256

// ResultVote is one counted result.
type ResultVote struct {
	CID      cid.Cid `json:"cid"`
	Executor peer.ID `json:"executor"`
	Class    string  `json:"class"`
	Score    int64   `json:"score"`
	// Accepted: the result is in the winning group (Verified only).
	Accepted bool `json:"accepted"`
}

// AttestationVote is one counted attestation.
type AttestationVote struct {
	CID      cid.Cid                   `json:"cid"`
	Verifier peer.ID                   `json:"verifier"`
	Result   cid.Cid                   `json:"result"`
	Verdict  object.AttestationVerdict `json:"verdict"`
	// Unavailable: a Disagree without a digest, the verifier could not re-run the segment (its
	// starting checkpoint was not served or did not match the chain).
	Unavailable bool `json:"unavailable,omitempty"`
	// Upheld: the attestation matches the verdict, an Agree with an accepted result or a
	// Disagree with a rejected one (Verified only).
	Upheld bool `json:"upheld"`
}

// Ignored is an object that does not count, and why.
type Ignored struct {
	// Ref is the object's CID, or "sha256:<hex>" of the envelope bytes when it does not open.
	Ref string `json:"ref"`
	// Kind is the kind of object it was given as (KindResult or KindAttestation).
	Kind object.Kind `json:"kind"`
	// Signer is the envelope's signer, when the envelope opens.
	Signer peer.ID `json:"signer,omitempty"`
	// Err wraps one of the reason sentinels (ErrEnvelope, ErrDuplicate, ...); Reason is its text.
	Err    error  `json:"-"`
	Reason string `json:"reason"`
}

// Outcome is the verdict on one task.
type Outcome struct {
	Task  cid.Cid `json:"task"`
	State State   `json:"state"`
	// Reason says in words why the task is in its state.
	Reason string `json:"reason"`
	// Score and Class are those of the winning group, and Canonical its first result in CID order
	// (Verified only).
	Score     int64   `json:"score,omitempty"`
	Class     string  `json:"class,omitempty"`
	Canonical cid.Cid `json:"canonical,omitempty"`
	// Votes is the number of counted voters (executors and verifiers); Budget is the most the
	// policy ever asks for (Replicas + MaxExtra).
	Votes  int `json:"votes"`
	Budget int `json:"budget"`
	// Support and Opposition are the votes for and against the winning (or leading) candidate.
	Support    int `json:"support"`
	Opposition int `json:"opposition"`
	// Results and Attestations are the counted objects, in CID order.
	Results      []ResultVote      `json:"results"`
	Attestations []AttestationVote `json:"attestations,omitempty"`
	// Involved is every peer that signed a valid object for this task (counted, duplicate or
	// equivocating), sorted: PickExtra must not choose them.
	Involved []peer.ID `json:"involved"`
	// Equivocators sent conflicting objects; they are rejected whatever the verdict.
	Equivocators []peer.ID `json:"equivocators,omitempty"`
	// Ignored lists what did not count, sorted by Ref and reason.
	Ignored []Ignored `json:"ignored,omitempty"`
}

// Final reports whether the outcome settles the task (Verified or Disputed): only final
// outcomes change reputation.
func (o Outcome) Final() bool { return o.State == Verified || o.State == Disputed }

// Accepted returns the results of the winning group (empty unless Verified).
func (o Outcome) Accepted() []ResultVote {
	var out []ResultVote
	for _, r := range o.Results {
		if r.Accepted {
			out = append(out, r)
		}
	}
	return out
}

// Rejected returns the counted results outside the winning group (empty unless Verified).
func (o Outcome) Rejected() []ResultVote {
	if o.State != Verified {
		return nil
	}
	var out []ResultVote
	for _, r := range o.Results {
		if !r.Accepted {
			out = append(out, r)
		}
	}
	return out
}

// Roles returns what the outcome means for each participant's reputation; nil unless Final.
// Verified: executors in the winning group and verifiers whose every attestation was upheld are
// RoleVerified, the others RoleRejected. Disputed: every voter is RoleDisputed. Equivocators are
// RoleRejected in both.
func (o Outcome) Roles() map[peer.ID]Role {
	if !o.Final() {
		return nil
	}
	roles := make(map[peer.ID]Role)
	for _, r := range o.Results {
		switch {
		case o.State == Disputed:
			roles[r.Executor] = RoleDisputed
		case r.Accepted:
			roles[r.Executor] = RoleVerified
		default:
			roles[r.Executor] = RoleRejected
		}
	}
	for _, a := range o.Attestations {
		switch {
		case o.State == Disputed:
			roles[a.Verifier] = RoleDisputed
		case a.Upheld:
			if roles[a.Verifier] != RoleRejected {
				roles[a.Verifier] = RoleVerified
			}
		case !a.Unavailable:
			// A false claim about a computation. "Could not run" against a result that turns out
			// right is neither credited nor blamed: checkpoints of honest executors can be
			// unreachable.
			roles[a.Verifier] = RoleRejected
		}
	}
	for _, p := range o.Equivocators {
		roles[p] = RoleRejected
	}
	return roles
}

// counted results and attestations while a verdict is computed.
type result struct {
	cid   cid.Cid
	r     object.Result
	exec  peer.ID
	fp    [sha256.Size]byte
	group int
}

type attestation struct {
	cid      cid.Cid
	a        object.Attestation
	verifier peer.ID
	target   *result
}

type group struct {
	fp      [sha256.Size]byte
	class   string
	score   int64
	results []*result
}

type voter struct {
	id      peer.ID
	pos     []int // groups it vouches for (an executor: its own)
	dissent []int // groups it disagrees with (verifiers only)
}

type verdict struct {
	task     cid.Cid
	policy   object.Policy
	out      Outcome
	involved map[peer.ID]bool
	results  []*result // counted, in CID order
	atts     []*attestation
	groups   []*group
	voters   []*voter
	accepted map[*result]bool // Verified only
}

// Verdict computes the outcome of task from the signed results and attestations a node holds.
// It is a pure function of its arguments and of their set, not their order: objects are opened,
// deduplicated by CID and sorted canonically before anything is counted. Bad peer input never
// makes it fail (it is listed in Outcome.Ignored); it returns an error wrapping ErrBadArgument only
// for a task that is not an object CID or a policy that does not validate.
func Verdict(task cid.Cid, policy object.Policy, results []SignedResult, attestations []SignedAttestation) (Outcome, error) {
	if err := object.CheckCID(task); err != nil || task.Prefix().Codec != cid.DagCBOR {
		return Outcome{}, fmt.Errorf("%w: task %s is not an object CID", ErrBadArgument, task)
	}
	if err := policy.Validate(); err != nil {
		return Outcome{}, fmt.Errorf("%w: %w", ErrBadArgument, err)
	}
	v := &verdict{
		task:     task,
		policy:   policy,
		out:      Outcome{Task: task, Budget: int(policy.Replicas + policy.MaxExtra)},
		involved: make(map[peer.ID]bool),
	}
	executors := v.openResults(results)
	v.openAttestations(attestations, executors)
	v.decide()
	v.finish()
	return v.out, nil
}

func (v *verdict) ignore(ref string, kind object.Kind, signer peer.ID, err error) {
	v.out.Ignored = append(v.out.Ignored, Ignored{Ref: ref, Kind: kind, Signer: signer, Err: err, Reason: err.Error()})
}

func envelopeRef(env []byte) string {
	sum := sha256.Sum256(env)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// open verifies an envelope of kind and decodes its payload into v. It returns the payload's CID
// and the signer, or the reason to ignore it.
func open(env []byte, kind object.Kind, v any) (cid.Cid, peer.ID, string, error) {
	c, s, err := object.SealedCID(env)
	if err != nil {
		return cid.Undef, "", envelopeRef(env), fmt.Errorf("%w: %w", ErrEnvelope, err)
	}
	if s.Kind != kind {
		return c, s.Author, c.String(), fmt.Errorf("%w: %w: holds %q", ErrEnvelope, object.ErrKind, s.Kind)
	}
	if err := object.Unmarshal(s.Data, v); err != nil {
		return c, s.Author, c.String(), fmt.Errorf("%w: %w", ErrMalformedObject, err)
	}
	return c, s.Author, c.String(), nil
}

// sameTask reports whether the CID string s names task (in any multibase).
func sameTask(s string, task cid.Cid) bool {
	c, err := object.ParseCID(s)
	return err == nil && c.Equals(task)
}

// openResults opens, checks and deduplicates the results, drops equivocators' and fills
// v.results and v.groups. It returns every peer that signed a valid result for the task.
func (v *verdict) openResults(envs []SignedResult) map[peer.ID]bool {
	byCID := make(map[string]*result)
	for _, env := range envs {
		var r object.Result
		c, author, ref, err := open(env, object.KindResult, &r)
		if err == nil {
			err = v.checkResult(r, author)
		}
		if err != nil {
			v.ignore(ref, object.KindResult, author, err)
			continue
		}
		v.involved[author] = true
		if _, dup := byCID[c.KeyString()]; dup {
			v.ignore(ref, object.KindResult, author, fmt.Errorf("%w: result replayed", ErrDuplicate))
			continue
		}
		fp, err := fingerprint(r)
		if err != nil {
			v.ignore(ref, object.KindResult, author, fmt.Errorf("%w: %w", ErrMalformedObject, err))
			continue
		}
		byCID[c.KeyString()] = &result{cid: c, r: r, exec: author, fp: fp}
	}
	all := make([]*result, 0, len(byCID))
	for _, r := range byCID {
		all = append(all, r)
	}
	slices.SortFunc(all, func(a, b *result) int { return bytes.Compare(a.cid.Bytes(), b.cid.Bytes()) })

	// One result per executor: copies with the same content count once; different content is
	// equivocation.
	executors := make(map[peer.ID]bool)
	first := make(map[peer.ID]*result)
	equivocal := make(map[peer.ID]bool)
	for _, r := range all {
		executors[r.exec] = true
		if f, ok := first[r.exec]; !ok {
			first[r.exec] = r
		} else if f.fp != r.fp {
			equivocal[r.exec] = true
		}
	}
	byFP := make(map[[sha256.Size]byte]*group)
	for _, r := range all {
		ref := r.cid.String()
		switch {
		case equivocal[r.exec]:
			v.ignore(ref, object.KindResult, r.exec, fmt.Errorf("%w: %s sent results with different content", ErrEquivocation, r.exec))
			continue
		case first[r.exec] != r:
			v.ignore(ref, object.KindResult, r.exec, fmt.Errorf("%w: same content as %s", ErrDuplicate, first[r.exec].cid))
			continue
		}
		v.results = append(v.results, r)
		g := byFP[r.fp]
		if g == nil {
			g = &group{fp: r.fp, class: r.r.Class, score: r.r.Score}
			byFP[r.fp] = g
			v.groups = append(v.groups, g)
		}
		g.results = append(g.results, r)
	}
	for p := range equivocal {
		v.out.Equivocators = append(v.out.Equivocators, p)
	}
	slices.SortFunc(v.groups, func(a, b *group) int { return bytes.Compare(a.fp[:], b.fp[:]) })
	for i, g := range v.groups {
		for _, r := range g.results {
			r.group = i
		}
	}
	for _, r := range v.results {
		v.voters = append(v.voters, &voter{id: r.exec, pos: []int{r.group}})
	}
	return executors
}

func (v *verdict) checkResult(r object.Result, author peer.ID) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedObject, err)
	}
	if !sameTask(r.Task, v.task) {
		return fmt.Errorf("%w: %s", ErrOtherTask, r.Task)
	}
	if r.Executor != author.String() {
		return fmt.Errorf("%w: executor %q, signer %s", ErrWrongSigner, r.Executor, author)
	}
	return nil
}

// openAttestations opens and checks the attestations against the counted results and adds one
// voter per verifier.
func (v *verdict) openAttestations(envs []SignedAttestation, executors map[peer.ID]bool) {
	byCID := make(map[string]*attestation)
	for _, env := range envs {
		var a object.Attestation
		c, author, ref, err := open(env, object.KindAttestation, &a)
		if err == nil {
			err = v.checkAttestation(a, author)
		}
		if err != nil {
			v.ignore(ref, object.KindAttestation, author, err)
			continue
		}
		v.involved[author] = true
		if _, dup := byCID[c.KeyString()]; dup {
			v.ignore(ref, object.KindAttestation, author, fmt.Errorf("%w: attestation replayed", ErrDuplicate))
			continue
		}
		byCID[c.KeyString()] = &attestation{cid: c, a: a, verifier: author}
	}
	all := make([]*attestation, 0, len(byCID))
	for _, a := range byCID {
		all = append(all, a)
	}
	slices.SortFunc(all, func(a, b *attestation) int { return bytes.Compare(a.cid.Bytes(), b.cid.Bytes()) })

	results := make(map[string]*result, len(v.results))
	for _, r := range v.results {
		results[r.cid.KeyString()] = r
	}
	var valid []*attestation
	for _, a := range all {
		if err := checkAgainstResult(a, results, executors); err != nil {
			v.ignore(a.cid.String(), object.KindAttestation, a.verifier, err)
			continue
		}
		valid = append(valid, a)
	}

	// One position per verifier: agreeing and disagreeing about the same content is equivocation.
	type side struct{ agree, disagree map[int]bool }
	sides := make(map[peer.ID]*side)
	var order []peer.ID
	for _, a := range valid {
		s := sides[a.verifier]
		if s == nil {
			s = &side{agree: map[int]bool{}, disagree: map[int]bool{}}
			sides[a.verifier] = s
			order = append(order, a.verifier)
		}
		if a.a.Verdict == object.Agree {
			s.agree[a.target.group] = true
		} else {
			s.disagree[a.target.group] = true
		}
	}
	equivocal := make(map[peer.ID]bool)
	for p, s := range sides {
		for g := range s.agree {
			if s.disagree[g] {
				equivocal[p] = true
			}
		}
	}
	for _, a := range valid {
		if equivocal[a.verifier] {
			v.ignore(a.cid.String(), object.KindAttestation, a.verifier,
				fmt.Errorf("%w: %s agreed and disagreed about the same content", ErrEquivocation, a.verifier))
			continue
		}
		v.atts = append(v.atts, a)
	}
	for p := range equivocal {
		v.out.Equivocators = append(v.out.Equivocators, p)
	}
	for _, p := range order {
		if equivocal[p] {
			continue
		}
		s := sides[p]
		vt := &voter{id: p}
		for g := range s.agree {
			vt.pos = append(vt.pos, g)
		}
		for g := range s.disagree {
			vt.dissent = append(vt.dissent, g)
		}
		slices.Sort(vt.pos)
		slices.Sort(vt.dissent)
		v.voters = append(v.voters, vt)
	}
}

func (v *verdict) checkAttestation(a object.Attestation, author peer.ID) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedObject, err)
	}
	if !sameTask(a.Task, v.task) {
		return fmt.Errorf("%w: %s", ErrOtherTask, a.Task)
	}
	if a.Verifier != author.String() {
		return fmt.Errorf("%w: verifier %q, signer %s", ErrWrongSigner, a.Verifier, author)
	}
	return nil
}

// checkAgainstResult resolves an attestation's result and checks that the attestation can count.
func checkAgainstResult(a *attestation, results map[string]*result, executors map[peer.ID]bool) error {
	if executors[a.verifier] {
		return fmt.Errorf("%w: %s", ErrSelfAttestation, a.verifier)
	}
	rc, err := object.ParseCID(a.a.Result)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedObject, err)
	}
	r := results[rc.KeyString()]
	if r == nil {
		return fmt.Errorf("%w: %s", ErrUnknownResult, rc)
	}
	if a.a.Class != r.r.Class {
		return fmt.Errorf("%w: verifier %q, result %q", ErrClassMismatch, a.a.Class, r.r.Class)
	}
	if a.a.Segment >= int64(len(r.r.Segments)) {
		return fmt.Errorf("%w: segment %d of %d", ErrSegmentRange, a.a.Segment, len(r.r.Segments))
	}
	match := bytes.Equal(a.a.Digest, r.r.Segments[a.a.Segment].Digest) && a.a.Score == r.r.Score
	if match != (a.a.Verdict == object.Agree) {
		what := "differ from"
		if match {
			what = "match"
		}
		return fmt.Errorf("%w: %s, but its digest and score %s the result's", ErrInconsistent, a.a.Verdict, what)
	}
	a.target = r
	return nil
}

// decide counts support and opposition of every candidate group and sets the state.
func (v *verdict) decide() {
	o := &v.out
	n, budget, quorum := len(v.voters), o.Budget, int(v.policy.Quorum)
	o.Votes = n
	if n == 0 {
		o.State, o.Reason = Pending, "no votes yet"
		return
	}
	if len(v.groups) > maxGroups {
		o.State = Disputed
		o.Reason = fmt.Sprintf("flooded: %d distinct results (the policy asks for at most %d votes)", len(v.groups), budget)
		return
	}
	g := len(v.groups)
	compat := make([][]bool, g)
	for i := range compat {
		compat[i] = make([]bool, g)
		for j := range compat[i] {
			compat[i][j] = i == j || (v.groups[i].class != v.groups[j].class &&
				withinTolerance(v.groups[i].score, v.groups[j].score, v.policy.Tolerance))
		}
	}
	support, opposition, direct := make([]int, g), make([]int, g), make([]int, g)
	for _, vt := range v.voters {
		for _, p := range vt.pos {
			direct[p]++
		}
		for i := range g {
			switch {
			case anyIn(vt.pos, compat[i], true):
				support[i]++
			case anyIn(vt.pos, compat[i], false) || anyIn(vt.dissent, compat[i], true):
				opposition[i]++
			}
		}
	}
	// The winner: the most support (then the most direct votes, then the first fingerprint) among
	// candidates that reach the quorum with a majority; an incompatible candidate just as strong
	// means no winner.
	best, lead := -1, 0
	for i := range g {
		if support[i] > support[lead] {
			lead = i
		}
		if support[i] < quorum || support[i] <= opposition[i] {
			continue
		}
		if best < 0 || support[i] > support[best] || (support[i] == support[best] && direct[i] > direct[best]) {
			best = i
		}
	}
	if best >= 0 {
		for i := range g {
			if i != best && !compat[best][i] && support[i] == support[best] && support[i] > opposition[i] {
				best = -1
				break
			}
		}
	}
	unanimous := support[lead] == n
	if best >= 0 {
		lead = best
	}
	o.Support, o.Opposition = support[lead], opposition[lead]
	switch {
	case best >= 0 && (n <= budget || unanimous):
		o.State = Verified
		o.Reason = fmt.Sprintf("%d of %d votes agree (quorum %d), %d against", support[best], n, quorum, opposition[best])
		w := v.groups[best]
		o.Score, o.Class, o.Canonical = w.score, w.class, w.results[0].cid
		v.accept(compat[best])
	case n > budget:
		o.State = Disputed
		o.Reason = fmt.Sprintf("flooded: %d voters disagree, the policy asks for at most %d", n, budget)
	case unanimous:
		o.State = Pending
		o.Reason = fmt.Sprintf("%d of %d agreeing votes needed", n, quorum)
	case n < budget:
		o.State = NeedsMore
		o.Reason = fmt.Sprintf("no majority: best %d for, %d against, of %d votes; one more vote (%d left)",
			support[lead], opposition[lead], n, budget-n)
	default:
		o.State = Disputed
		o.Reason = fmt.Sprintf("no majority after %d votes: best %d for, %d against", n, support[lead], opposition[lead])
	}
}

// accept marks the results of the winning candidate's compatible groups as accepted.
func (v *verdict) accept(winners []bool) {
	v.accepted = make(map[*result]bool, len(v.results))
	for _, r := range v.results {
		v.accepted[r] = winners[r.group]
	}
}

// anyIn reports whether some index in idx has set[i] == want.
func anyIn(idx []int, set []bool, want bool) bool {
	for _, i := range idx {
		if set[i] == want {
			return true
		}
	}
	return false
}

// finish fills the outcome's lists in canonical order.
func (v *verdict) finish() {
	o := &v.out
	o.Results = make([]ResultVote, 0, len(v.results))
	for _, r := range v.results {
		o.Results = append(o.Results, ResultVote{
			CID: r.cid, Executor: r.exec, Class: r.r.Class, Score: r.r.Score, Accepted: v.accepted[r],
		})
	}
	for _, a := range v.atts {
		upheld := false
		if o.State == Verified {
			upheld = v.accepted[a.target] == (a.a.Verdict == object.Agree)
		}
		o.Attestations = append(o.Attestations, AttestationVote{
			CID: a.cid, Verifier: a.verifier, Result: a.target.cid, Verdict: a.a.Verdict,
			Unavailable: len(a.a.Digest) == 0, Upheld: upheld,
		})
	}
	o.Involved = make([]peer.ID, 0, len(v.involved))
	for p := range v.involved {
		o.Involved = append(o.Involved, p)
	}
	slices.Sort(o.Involved)
	slices.Sort(o.Equivocators)
	slices.SortFunc(o.Ignored, func(a, b Ignored) int {
		if c := strings.Compare(a.Ref, b.Ref); c != 0 {
			return c
		}
		return strings.Compare(a.Err.Error(), b.Err.Error())
	})
}

// withinTolerance reports whether |a-b| <= tol * max(|a|, |b|, Fixed) / 1e6, exactly.
func withinTolerance(a, b, tol int64) bool {
	var d uint64
	if a > b {
		d = uint64(a) - uint64(b)
	} else {
		d = uint64(b) - uint64(a)
	}
	m := max(abs64(a), abs64(b), object.Fixed)
	dh, dl := bits.Mul64(d, object.Fixed)
	th, tl := bits.Mul64(uint64(tol), m)
	return dh < th || (dh == th && dl <= tl)
}

func abs64(x int64) uint64 {
	if x < 0 {
		return uint64(-(x + 1)) + 1
	}
	return uint64(x)
}

// fingerprint hashes what an honest run of one class reproduces bit for bit: the class, the
// budget, the digest chain with its losses and partial metrics, the final metrics and the score.
// Executor, engine version and checkpoint CIDs are left out.
func fingerprint(r object.Result) ([sha256.Size]byte, error) {
	type segPrint struct {
		Step    int64           `cbor:"step"`
		Digest  []byte          `cbor:"digest"`
		Loss    int64           `cbor:"loss"`
		Metrics []object.Metric `cbor:"metrics,omitempty"`
	}
	type resultPrint struct {
		Class    string          `cbor:"class"`
		Steps    int64           `cbor:"steps"`
		Tokens   int64           `cbor:"tokens"`
		Segments []segPrint      `cbor:"segments"`
		Metrics  []object.Metric `cbor:"metrics"`
		Score    int64           `cbor:"score"`
	}
	p := resultPrint{Class: r.Class, Steps: r.Steps, Tokens: r.Tokens, Metrics: r.Metrics, Score: r.Score}
	for _, s := range r.Segments {
		p.Segments = append(p.Segments, segPrint{Step: s.Step, Digest: s.Digest, Loss: s.Loss, Metrics: s.Metrics})
	}
	b, err := object.Marshal(p)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(b), nil
}
