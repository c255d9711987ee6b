package node_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/node"
)

// FuzzResolveProtocol feeds the decoder of the protocol objects the API accepts: it never panics,
// refuses with api.ErrInvalid only, and what it accepts is a valid protocol.
func FuzzResolveProtocol(f *testing.F) {
	smoke, _ := json.Marshal(node.SmokeProtocol(8))
	f.Add(smoke, "")
	f.Add([]byte(`{"type":"airanode/protocol/1"}`), "")
	f.Add([]byte(`{"settings":[{"task":"in-context-recall","vocab":65536,"seq_len":1048576,"steps":1,"batch":1}]}`), "")
	f.Add(smoke, "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
	f.Add([]byte(`null`), "x")
	f.Fuzz(func(t *testing.T, obj []byte, data string) {
		if len(obj) == 0 {
			return // a name lookup, not the decoder
		}
		p, err := node.ResolveProtocol("", obj, data)
		if err != nil {
			if !errors.Is(err, api.ErrInvalid) {
				t.Fatalf("error %v does not wrap api.ErrInvalid", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted an invalid protocol: %v", err)
		}
	})
}

// FuzzResolveArch does the same for architectures.
func FuzzResolveArch(f *testing.F) {
	for _, s := range []string{"A M", "width=32: A M", "(A(kv=2,win=64) M)x2 S(state=4) M", `{"width":16,"layers":[{"kind":"attention"}]}`, "Z", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		a, err := node.ResolveArch(spec)
		if err != nil {
			if !errors.Is(err, api.ErrInvalid) {
				t.Fatalf("error %v does not wrap api.ErrInvalid", err)
			}
			return
		}
		if a.Vocab != 0 {
			t.Fatalf("resolved architecture is bound to vocabulary %d", a.Vocab)
		}
	})
}
