// Package taskstest has test helpers for package tasks and the packages built on it: an
// in-memory Network whose Endpoints implement tasks.Bus, and CounterExecutor, a deterministic
// tasks.Executor test double that hashes a counter instead of training a model.
//
// Everything here is safe for concurrent use.
package taskstest
