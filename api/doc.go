// Package api is the node's local control API: HTTP with JSON bodies on a loopback address, used
// by the command-line client (`airanode task`, `peers`, `worker`, and `search` and `registry` while
// a node runs) and by scripts. docs/user-guide.md lists the endpoints; in short:
//
//	GET  /v1/status                    peer id, addresses, peers, worker state, running tasks
//	GET  /v1/peers                     connected peers: id, addresses, agent version, gossip score
//	POST /v1/tasks                     submit a task (SubmitRequest) -> SubmitResponse
//	GET  /v1/tasks                     every task the node knows -> []Task
//	GET  /v1/tasks/{cid}               one task with its results -> TaskDetail
//	POST /v1/worker/{pause|resume|drain}  volunteer controls -> Worker
//	POST /v1/worker/workers            {"workers": n}: tasks run at once -> Worker
//	POST /v1/searches                  launch a search (LaunchRequest) -> LaunchResponse
//	GET  /v1/searches                  the searches held, with progress -> []search.Status
//	GET  /v1/searches/{ref}            one search by name or CID -> SearchDetail
//	POST /v1/searches/{ref}/join       run the search's agents on this node too -> SearchDetail
//	GET  /v1/registry/top              leaderboards -> []registry.Board; query: search (name or
//	                                   CID), protocol (CID), n (1..registry.MaxTop), unverified (1/0)
//	GET  /v1/registry/arch/{cid}       one architecture -> registry.ArchDetail
//	GET  /v1/registry/lineage/{cid}    its ancestry -> registry.LineageNode; query: search
//	GET  /v1/reputation                every peer's verification record -> []PeerReputation
//	GET  /v1/verification              the node's verification report -> VerificationReport
//	GET  /metrics                      Prometheus metrics (when the server has a Gatherer)
//
// The Server is transport only: it decodes and bounds every request (body size, unknown fields,
// field ranges, unknown or repeated query parameters, CIDs, search names), turns errors into JSON
// error bodies with a status code (ErrInvalid: 400, ErrNotFound: 404, anything else: 500), and
// calls a Backend, which the node implements. Bad input never reaches the Backend, so it changes
// nothing. The Backend judges what needs the node's state: whether a search spec builds (the
// server only decodes it, as a spec file is decoded), whether an object is held. A search name in
// a leaderboard or lineage query is passed to the Backend, which resolves it in its store.
// The Server listens on loopback only, answers only requests whose Host header names a loopback
// address (a defence against DNS rebinding), and accepts POST bodies only as application/json (a
// defence against cross-site form posts).
//
// Client is the Go client of the same API. Server, Client and the wire types are safe for
// concurrent use.
package api
