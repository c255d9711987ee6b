// Package node wires every service of an airanode node into one process: from one config.Config,
// New builds and starts the store (<data-dir>/store), the libp2p host with discovery, gossip,
// block exchange and sync (package p2p), the gossip bus of the task protocol, the tasks Manager
// with the training executor (Trainer, on bench.Evaluate), and the local control API (package
// api) with Prometheus metrics. It writes <data-dir>/node.json (Info) so that other processes
// find the running node's API and addresses.
//
// Lifecycle: New starts everything or nothing: when a step fails (a port in use, a bad PSK file,
// a store locked by another process, ...) the steps already done are undone in reverse order and
// New returns the error. Close stops everything in reverse order of start and waits for every
// goroutine the node started; it is idempotent. Closing a node that is running tasks keeps their
// leases and their last checkpoint, so a restart within the lease resumes them (bit-identically,
// the engine being deterministic).
//
// The adapters between the layers live here:
//
//   - gossip → tasks: offers, capabilities, claims and results travel as signed envelopes on the
//     network's tasks topic (TasksTopic) or, for tasks of a search, on the search's topic
//     (p2p.SearchTopic); every topic validates with tasks.Check (plus strict decoding of search and
//     proposal envelopes), and validated task messages are delivered to Manager.HandleEnvelope in
//     order.
//
//   - store → p2p: block exchange answers from the store (objects, results, checkpoints, dataset
//     chunks), and sync lists the offers and results a node holds, under the key TasksSyncKey for
//     tasks outside searches and under the search CID otherwise, so that a node that joins or
//     restarts catches up on what gossip did not bring it.
//
//   - tasks → bench: Trainer runs a task by reading (or fetching from peers) its architecture and
//     protocol objects and calling bench.Evaluate with one CPU thread per model; its checkpoints
//     are the evaluation state plus the model checkpoints bench stores at every segment boundary.
//
//   - tasks → GPU cores: with config gpu = "auto" and NVIDIA devices found, a router runs each
//     task on an idle airanode-cuda core (tasks/gpucore.Supervisor) and otherwise on the CPU
//     Trainer (gpu.go; docs/gpu.md). Without devices, or with gpu = "off", the CPU only.
//
//   - verification: the node recomputes a task's verdict (consensus.Verdict through the registry)
//     whenever a result arrives; final verdicts go into the persisted consensus.Reputation, whose
//     AppScore is gossipsub's application score and whose RankWeight weighs the claim ranking; a
//     disagreement re-offers the task with one more replica, so the next peer in the ranking that
//     has not executed it runs it (docs/verification.md §9). Verification reports the node's view.
//
//   - searches: search objects travel on the tasks topic and proposals on the search's topic; a
//     node stores them, follows every search it hears of (so its worker claims the search's
//     tasks), and runs a search.Runner for every search it launched (LaunchSearch) or joined
//     (JoinSearch), also after a restart. Offers this node made are re-announced while nobody claims them.
//
//   - WithDemoLiar makes a node a demo liar (demo and tests only): it never trains and reports
//     fabricated results, which verification must reject.
//
// A Node is safe for concurrent use.
package node
