// Package tasks distributes training tasks over the network without a coordinator: it announces
// tasks, decides which node runs which by rendezvous ranking and gossiped leases, runs the claimed
// tasks through an Executor on a pool of workers, and stores and publishes the signed results.
// docs/tasks.md is the protocol reference.
//
// The pieces:
//
//   - A task (object.Task) is announced by a signed Offer (Submit) that carries the task object, its
//     replication R and its resource Need (from the architecture cost model: EstimateNeed,
//     StoreEstimator).
//   - Every node advertises a signed Capability (memory and compute limits, workers, whether it
//     accepts work), so it can rank the capable peers it knows for each task by the rendezvous
//     score Score(task, peer) (highest random weight).
//   - A node among the top R claims at once; a node of lower rank waits RankDelay per rank below
//     R and claims only if by then fewer than R live leases and results exist. A claim is a signed
//     lease (object.Claim) renewed by progress heartbeats; a receiver lets it expire LeaseMillis
//     after the last heartbeat it received, on its own monotonic clock. When more than R leases
//     are live, the claimers with the lowest rendezvous scores abandon: conflicts are settled by
//     rank, never by clock.
//   - The Manager runs claimed tasks through the Executor, one model per worker (Workers defaults
//     to the number of CPUs), with volunteer controls: SetWorkers, Pause/Resume (pausing holds
//     running tasks at their next step boundary) and Drain (finish the running tasks, claim
//     nothing new). Results are sealed with the node key, stored durably and indexed ("task",
//     "search") before they are published. Results from peers are checked (signature, executor
//     is the signer, Validate) and stored and indexed too.
//   - Claims, leases and partial work (the last checkpoint of every run) live in the store's meta
//     space: a restarted Manager resumes its own unexpired tasks from their last checkpoint,
//     publishes nothing twice, and, the Executor being deterministic, reaches the same Result as an
//     uninterrupted run.
//
// The network is behind the narrow Bus interface (publish an envelope) and HandleEnvelope (deliver
// one); package tasks/taskstest has an in-memory Bus for tests, and Check is the decoder a gossip
// validator can call. A Manager is safe for concurrent use by multiple goroutines.
package tasks
