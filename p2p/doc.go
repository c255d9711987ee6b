// Package p2p is airanode's networking layer: a go-libp2p host with a persisted identity,
// discovery (mDNS on the LAN, a kad-dht with the "/airanode" protocol prefix and a rendezvous
// namespace per network), validated GossipSub topics, a block-exchange protocol and a sync protocol.
//
// The pieces, each usable on any go-libp2p host (the tests also run them on mocknet):
//
//   - Host (New) builds the libp2p host from a Config: TCP and QUIC, Noise, Yamux, a resource
//     manager with explicit limits, a connection manager, NAT port mapping, hole punching, AutoRelay
//     fed by the DHT, an optional private network (PSK), then starts discovery, gossip, block
//     exchange and sync. Close stops everything and waits for it.
//   - Gossip (NewGossip) wraps GossipSub with StrictSign, a message ID over author and data, a
//     message-size cap, peer scoring with an application-score hook, and a ValidatorEx per topic
//     that decodes each message once with a caller-supplied Decoder, rejects what fails decoding,
//     hash, signature or bounds, checks that the envelope signer is the message author, and ignores
//     duplicates, replays and stale objects.
//   - Blocks (NewBlocks) serves /airanode/blocks/1.0.0: up to MaxWant CIDs per request, answered
//     from a BlockStore, with a block-size cap, per-peer rate limits and stream deadlines; every
//     fetched block is verified with object.VerifyBlock before it is stored.
//   - Sync (NewSync) serves /airanode/sync/1.0.0: a paged list of the CIDs a peer holds for a
//     search, and CatchUp, which pages through a peer's list and fetches what is missing.
//
// The stream protocols use the framing in wire.go (a type byte, a uvarint length, a payload), whose
// decoders are fuzzed. docs/protocol.md is the wire specification and docs/operator.md the guide
// for running a node behind NAT or in a private network.
//
// Every exported type is safe for concurrent use unless its documentation says otherwise.
package p2p
