// Package search runs community searches: the spec a researcher launches (Spec, loaded from JSON
// or a preset), the agents that propose candidates (random, regularised evolution), and the
// Runner that turns their proposals into tasks until the budget is spent. docs/search.md is the
// user's reference.
//
// The pieces:
//
//   - A Spec (spec.json, or Preset("mad-lite-small"), Preset("demo")) resolves to an
//     object.Search — space, protocol, budget, verification policy, agents, seed — signed by the
//     launcher, and its protocol object. Check validates a Search against the architecture
//     language and the agents; Launch stores both objects (registry.PutSearch) so the node can
//     gossip the search and run it.
//   - Agents propose architectures from the search's verified history only (Input.History is
//     built from verified verdicts, never from claimed scores). They are pure functions of their
//     Input, so a proposal is determined by the search seed and the verified history.
//   - A Runner keeps up to InFlight tasks of the search in flight: it asks the agents in turn for
//     a candidate, merges duplicates by CID (a task already known for the search is never
//     submitted again), stores the architecture object and the signed Proposal (parents, agent,
//     rationale), submits Task{Search, Arch, Protocol, Seed} through a Submitter (the node's tasks
//     Manager), and reads verdicts through a ResultSource (the registry). The budget counts every
//     task of the search the node knows, whoever proposed it, and stops new tasks.
//   - StatusOf reports a search's progress from the store alone: budget used, tasks settled,
//     verified, disputed, the best verified candidate, proposals per agent.
//
// Agents hold no state and are safe for concurrent use. A Runner is safe for concurrent use; its
// Run loop is meant to run in one goroutine, and Status may be called from any.
package search
