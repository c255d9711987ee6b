package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/airanode/airanode/api"
)

// printPeers shows what each peer advertised (workers, accepting, classes) and dashes for a peer
// not heard on the tasks topic.
func TestPrintPeers(t *testing.T) {
	tests := []struct {
		name  string
		peers []api.Peer
		want  []string
	}{
		{"none", nil, []string{"no peers connected"}},
		// Every other column of this peer has a value, so the dashes can only be WORKERS and CLASSES.
		{"no capability", []api.Peer{{ID: "12D3KooA", Addrs: []string{"/ip4/127.0.0.1/tcp/1"}, AgentVersion: "airanode/1",
			Scored: true, Score: 0.5, LatencyMS: 3}},
			[]string{"WORKERS", "CLASSES", "12D3KooA", "/ip4/127.0.0.1/tcp/1", "airanode/1", "0.50", "3.0ms", "outbound"}},
		{"gpu node", []api.Peer{{ID: "12D3KooB", Scored: true, Score: 1.5, Inbound: true,
			Capability: &api.PeerCapability{Workers: 3, Accepting: true, Classes: "cpu-v1 cuda-v1"}}},
			[]string{"12D3KooB", "1.50", "inbound", " 3 ", "cpu-v1 cuda-v1"}},
		{"paused", []api.Peer{{ID: "12D3KooC", Capability: &api.PeerCapability{Workers: 2, Classes: "cpu-v1"}}},
			[]string{"2 (not accepting)", "cpu-v1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printPeers(&b, tc.peers); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
			if tc.peers != nil && tc.peers[0].Capability == nil {
				// the peer's own row, not the header, shows a dash for WORKERS and for CLASSES
				var row string
				for _, l := range strings.Split(b.String(), "\n") {
					if strings.Contains(l, tc.peers[0].ID) {
						row = l
					}
				}
				f := strings.Fields(row)
				if len(f) != 8 || f[6] != "-" || f[7] != "-" || slices.Contains(f[:6], "-") {
					t.Errorf("a peer without a capability should show a dash for WORKERS and CLASSES only, row %q:\n%s", row, b.String())
				}
			}
		})
	}
}
