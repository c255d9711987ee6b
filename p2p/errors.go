package p2p

import "errors"

// Sentinel errors. Errors returned by this package wrap one of them (or an object.Err* sentinel
// for verification failures, or a context error).
var (
	// ErrInvalidConfig means a Config failed Validate.
	ErrInvalidConfig = errors.New("p2p: invalid config")
	// ErrClosed means the service was used after Close.
	ErrClosed = errors.New("p2p: closed")
	// ErrMalformed means a peer sent bytes that do not decode as the expected message.
	ErrMalformed = errors.New("p2p: malformed message")
	// ErrTooLarge means a message, frame or block exceeds its cap.
	ErrTooLarge = errors.New("p2p: too large")
	// ErrNotFound means the peer (or the local store) does not have the block.
	ErrNotFound = errors.New("p2p: block not found")
	// ErrRateLimited means the peer refused the request because we exceeded its rate limit.
	ErrRateLimited = errors.New("p2p: rate limited")
	// ErrRefused means the peer could not serve the request (bad request or internal error).
	ErrRefused = errors.New("p2p: request refused")
	// ErrProtocol means the peer broke the protocol (wrong block order, unexpected frame).
	ErrProtocol = errors.New("p2p: protocol violation")
	// ErrIncomplete means a catch-up finished with some objects not fetched.
	ErrIncomplete = errors.New("p2p: incomplete")
	// ErrIgnore, wrapped by a Decoder's error, makes the gossip validator ignore the message
	// (drop it without penalising the sender) instead of rejecting it.
	ErrIgnore = errors.New("p2p: ignore message")
	// ErrAuthor means a gossiped envelope was signed by someone other than the message's author.
	ErrAuthor = errors.New("p2p: envelope signer is not the message author")
	// ErrNotJoined means a topic was used before Join or after Leave.
	ErrNotJoined = errors.New("p2p: topic not joined")
	// ErrNoPeers means no connected peer could serve a request.
	ErrNoPeers = errors.New("p2p: no peers")
)
