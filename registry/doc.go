// Package registry answers queries over the results a node holds: the leaderboard of a search or
// a protocol (Top), the detail of one architecture (Show: pattern, parameters, FLOPs per token,
// per-task scores, verification state, who executed and who agreed) and its lineage (Lineage:
// the parents chain recorded by the agents' proposals). docs/search.md describes the queries.
//
// The registry reads the node's store (package store) and never writes results: a task's verdict
// is consensus.Verdict over the signed results and attestations filed under the task (index
// "task"), with the verification policy of the task's search (or the default policy outside a
// search). Verdicts are pure functions of those objects, so the registry caches them by the set of
// objects it saw and recomputes when that set changes. Only verified scores rank; unverified ones
// are shown only when asked, marked as such.
//
// The registry also owns the two indexes of the search objects it serves: IndexSearches (search
// name → sealed Search) and IndexProposals (architecture CID → sealed Proposal). PutSearch and
// PutProposal check an envelope, store it and file it under those indexes and the generic ones
// ("search", "author"), so that a node syncing a search receives its proposals too; a node calls
// them for its own objects and for the ones gossip brings.
//
// A Registry is safe for concurrent use.
package registry
