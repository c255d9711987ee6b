package bench

import (
	"crypto/sha256"
	"encoding/binary"
)

// MaxLeakagePPM is the most test-set leakage a setting may have: 0.1% of test inputs found in the
// training set (MAD's warning threshold).
const MaxLeakagePPM = 1000

// Leakage reports how many test examples have inputs identical to some training example's.
type Leakage struct {
	Test    int   // test examples checked
	InTrain int   // of which have inputs also in the training set
	PPM     int64 // InTrain/Test in parts per million, rounded up
}

// OK reports whether the leakage is within MaxLeakagePPM.
func (l Leakage) OK() bool { return l.PPM <= MaxLeakagePPM }

// CheckLeakage generates the whole training and test sets of a MAD setting and counts the test
// examples whose input tokens (targets aside) appear in the training set. It costs one pass over both
// sets.
func CheckLeakage(s Setting, seed uint64) (Leakage, error) {
	b, err := NewSettingBatcher(s, seed)
	if err != nil {
		return Leakage{}, err
	}
	L := b.SeqLen()
	tok, tgt := make([]int32, L), make([]int32, L)
	buf := make([]byte, 4*L)
	digest := func() [16]byte {
		for i, t := range tok {
			binary.LittleEndian.PutUint32(buf[4*i:], uint32(t))
		}
		sum := sha256.Sum256(buf)
		var d [16]byte
		copy(d[:], sum[:16])
		return d
	}
	train := make(map[[16]byte]struct{}, s.TrainExamples)
	for i := range s.TrainExamples {
		b.Example(Train, i, tok, tgt)
		train[digest()] = struct{}{}
	}
	l := Leakage{Test: s.TestExamples}
	for i := range s.TestExamples {
		b.Example(Test, i, tok, tgt)
		if _, ok := train[digest()]; ok {
			l.InTrain++
		}
	}
	l.PPM = (int64(l.InTrain)*ppm + int64(l.Test) - 1) / int64(l.Test)
	return l, nil
}
