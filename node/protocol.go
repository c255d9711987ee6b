package node

import "github.com/airanode/airanode/bench"

// SmokeProtocol returns a deliberately tiny evaluation protocol for devnets and tests: one
// in-context-recall setting (vocabulary 16, sequences of 16, batches of 8) trained for steps steps
// in 4 segments (2 below 64 steps, to keep checkpoints few). A width-16 to 32 model trains it in well under a second on one core. Its scores
// mean nothing; it exercises the whole path (training, digests, checkpoints, results) quickly.
func SmokeProtocol(steps int) *bench.Protocol {
	return &bench.Protocol{
		Type: bench.ProtocolType,
		Name: "smoke",
		Settings: []bench.Setting{{
			Task: bench.TaskRecall, Vocab: 16, SeqLen: 16, TrainExamples: 256, TestExamples: 32,
			Steps: steps, Batch: 8,
		}},
		LR: 3000, Schedule: bench.ScheduleCosine, Warmup: min(2, steps/4), MinLR: 300,
		EvalExamples: 16, Seed: bench.DefaultSeed, Segments: segments(steps),
	}
}

func segments(steps int) int {
	switch {
	case steps >= 64:
		return 4
	case steps >= 2:
		return 2
	}
	return 1
}
