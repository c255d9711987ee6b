package p2p

import (
	"net"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Peer-score parameters. airanode topics carry little traffic (objects, not a stream of blocks),
// so the scores reward time in the mesh and first deliveries a little, never punish a quiet mesh
// peer (no mesh-delivery deficit penalty, as in Filecoin's low-traffic topics), and punish invalid
// messages hard: the penalty is the square of the decaying count of rejected messages.
//
// One invalid message costs InvalidMessageWeight (-100): the peer then sits below 0 and loses
// opportunistic grafting. Three reach GossipThreshold (-900 < -500): we stop gossiping to it and
// ignore its gossip. Five reach GraylistThreshold (-2500): all its RPCs are ignored. The count
// decays to nothing over an hour. The application score (reputation from verification) is added
// with weight 1, so the verification layer can graylist a peer by returning <= -2500.
const (
	InvalidMessageWeight = -100.0
	GossipThreshold      = -500.0
	PublishThreshold     = -1000.0
	GraylistThreshold    = -2500.0
)

// loopbackNets are exempt from the IP-colocation penalty, so that test clusters and several nodes
// on one machine are not punished for sharing an address.
var loopbackNets = []*net.IPNet{
	{IP: net.IPv4(127, 0, 0, 0), Mask: net.CIDRMask(8, 32)},
	{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
}

func peerScoreParams(app func(peer.ID) float64) *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		Topics:        make(map[string]*pubsub.TopicScoreParams),
		TopicScoreCap: 50,

		AppSpecificScore:  app,
		AppSpecificWeight: 1,

		// More than 10 peers behind one public IP start to cost (a Sybil farm, or a big NAT).
		IPColocationFactorWeight:    -10,
		IPColocationFactorThreshold: 10,
		IPColocationFactorWhitelist: loopbackNets,

		BehaviourPenaltyWeight:    -10,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     pubsub.ScoreParameterDecay(10 * time.Minute),

		DecayInterval: pubsub.DefaultDecayInterval,
		DecayToZero:   pubsub.DefaultDecayToZero,
		RetainScore:   6 * time.Hour, // a peer cannot reset its score by reconnecting
	}
}

func peerScoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:             GossipThreshold,
		PublishThreshold:            PublishThreshold,
		GraylistThreshold:           GraylistThreshold,
		AcceptPXThreshold:           10, // only PX from peers with a good record (or reputation)
		OpportunisticGraftThreshold: 2,
	}
}

// topicScoreParams are the parameters of every airanode topic.
func topicScoreParams() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		TopicWeight: 1,

		TimeInMeshWeight:  0.01, // +10 after ~17 min in the mesh
		TimeInMeshQuantum: time.Second,
		TimeInMeshCap:     1000,

		FirstMessageDeliveriesWeight: 1,
		FirstMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
		FirstMessageDeliveriesCap:    40,

		InvalidMessageDeliveriesWeight: InvalidMessageWeight,
		InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
	}
}
