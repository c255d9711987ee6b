// Package consensus decides which results of the network are true: it is the pure logic of
// verification over signed objects, with no network and no engine (docs/verification.md has the
// rules and the threat model).
//
// # Verdicts
//
// Verdict(task, policy, results, attestations) is a pure function of the signed objects a node
// holds for one task: any two nodes holding the same objects compute the same Outcome, whatever
// the order they arrived in. Envelopes are opened and checked (signature, kind, canonical
// encoding, bounds, task, author = signer); what fails is listed in Outcome.Ignored with a reason
// and otherwise ignored. Each peer casts at most one vote:
//
//   - an executor votes with its Result;
//   - a verifier votes with its Attestations (a re-run of one segment and of the final
//     evaluation, in the result's reproducibility class).
//
// Results of one class agree when they are bit-identical where it matters (digest chain, losses,
// metrics, score); results of different classes agree when their scores are within the policy's
// tolerance. A candidate is verified when its support reaches the quorum and exceeds the votes
// against it; the results outside the winning group are rejected. A disagreement asks for one more
// vote (NeedsMore; PickExtra chooses who, by rendezvous hash), up to the policy's MaxExtra; after
// that the task is Disputed.
//
// # Reputation and adaptive replication
//
// Reputation keeps per-peer counts of verified, rejected and disputed outcomes in a small KV
// (MemKV for tests, StoreKV over the node's store), applied idempotently from final Outcomes. It
// gives Trust (a Wilson lower bound), AppScore (gossipsub's application score), RankWeight (for
// claiming), Candidates (the peers in good standing, for PickExtra and PickVerifier) and
// NeedsReplication (BOINC-style adaptive replication, deterministic from hash(task, peer)).
//
// Verdict counts every valid signed object it is given: admitting only results from peers that
// claimed the task or were picked, and attestations from picked verifiers, is the caller's job.
//
// Verdict, PickExtra, PickVerifier, SpotSegment and FirstDivergence are pure and safe for
// concurrent use. A Reputation is safe for concurrent use; so are MemKV and StoreKV.
package consensus
