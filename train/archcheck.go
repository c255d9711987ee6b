package train

import (
	"fmt"
	"slices"

	"github.com/airanode/airanode/arch"
)

// checkArch requires a valid architecture in normal form with its vocabulary bound.
func checkArch(a arch.Arch) error {
	if a.Vocab <= 0 {
		return fmt.Errorf("%w: vocabulary size not set (arch.WithVocab)", ErrArch)
	}
	if err := arch.CheckNormal(a); err != nil {
		return fmt.Errorf("%w: %w", ErrArch, err)
	}
	return nil
}

// sameLayout checks the engine's tensor table against arch.Layout, the project's published list of
// parameter names, shapes and order (which the PyTorch export also follows).
func sameLayout(a arch.Arch, ts []Tensor) error {
	want, err := arch.Layout(a)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrArch, err)
	}
	if len(want) != len(ts) {
		return fmt.Errorf("%w: engine has %d tensors, arch.Layout %d", ErrArch, len(ts), len(want))
	}
	for i, w := range want {
		if w.Name != ts[i].Name || !slices.Equal(w.Shape, ts[i].Shape) {
			return fmt.Errorf("%w: tensor %d is %s%v in the engine, %s%v in arch.Layout",
				ErrArch, i, ts[i].Name, ts[i].Shape, w.Name, w.Shape)
		}
	}
	return nil
}
