// Package api is the node's local control API: HTTP with JSON bodies on a loopback address, used
// by the command-line client (`airanode task`, `peers`, `worker`) and by scripts. docs/user-guide.md
// lists the endpoints; in short:
//
//	GET  /v1/status                    peer id, addresses, peers, worker state, running tasks
//	GET  /v1/peers                     connected peers: id, addresses, agent version, gossip score
//	POST /v1/tasks                     submit a task (SubmitRequest) -> SubmitResponse
//	GET  /v1/tasks                     every task the node knows -> []Task
//	GET  /v1/tasks/{cid}               one task with its results -> TaskDetail
//	POST /v1/worker/{pause|resume|drain}  volunteer controls -> Worker
//	POST /v1/worker/workers            {"workers": n}: tasks run at once -> Worker
//	GET  /metrics                      Prometheus metrics (when the server has a Gatherer)
//
// The Server is transport only: it decodes and bounds every request (body size, unknown fields,
// field ranges), turns errors into JSON error bodies with a status code (ErrInvalid: 400,
// ErrNotFound: 404, anything else: 500), and calls a Backend, which the node implements. Bad input
// never reaches the Backend, so it changes nothing. The Server listens on loopback only, answers
// only requests whose Host header names a loopback address (a defence against DNS rebinding), and
// accepts POST bodies only as application/json (a defence against cross-site form posts).
//
// Client is the Go client of the same API. Server, Client and the wire types are safe for
// concurrent use.
package api
