package p2p

import (
	"fmt"
	"regexp"

	"github.com/ipfs/go-cid"
)

// TopicVersion is the version segment of every topic name. A change to what a topic carries that
// old nodes cannot read bumps it, so old and new nodes never share a mesh.
const TopicVersion = "1"

var networkName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidateNetwork reports whether name is a valid network name: 1 to 63 characters from a-z, 0-9,
// '.', '_' and '-', starting with a letter or digit.
func ValidateNetwork(name string) error {
	if !networkName.MatchString(name) {
		return fmt.Errorf("%w: network name %q: want [a-z0-9][a-z0-9._-]{0,62}", ErrInvalidConfig, name)
	}
	return nil
}

// SearchesTopic names the topic on which a network announces its searches.
func SearchesTopic(network string) string {
	return "/airanode/" + TopicVersion + "/" + network + "/searches"
}

// SearchTopic names the topic of one search: proposals, claims, results and attestations.
func SearchTopic(network string, search cid.Cid) string {
	return "/airanode/" + TopicVersion + "/" + network + "/search/" + search.String()
}

// RendezvousNamespace is the DHT rendezvous namespace under which the nodes of a network advertise
// themselves.
func RendezvousNamespace(network string) string {
	return "/airanode/" + TopicVersion + "/" + network
}
