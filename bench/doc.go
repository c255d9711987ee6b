// Package bench holds airanode's evaluation protocols: the six MAD synthetic tasks (in-context
// recall, fuzzy and noisy in-context recall, selective copying, compression, memorisation) with
// deterministic generators, the protocols built from them (MAD-lite, the default; the full MAD
// benchmark), byte-level text datasets scored in bits per byte, and the fixed-point score objects.
//
// The pieces:
//
//   - Setting is one task at one difficulty with its training budget; Protocol is a canonical,
//     CID-named object listing settings, learning rate and weight decay (or a sweep), schedule,
//     evaluation size, data seed and segment count. MADLite, MAD and Text build the registered
//     protocols; Lookup finds one by name.
//   - A Batcher feeds the engine: Batch(step, tokens, targets) fills a training batch from the
//     protocol's seed and the step alone, and TestBatch iterates the test set in fixed batches.
//     TaskBatcher serves MAD settings (examples generated on demand from a counter-based generator,
//     independent train and test streams, CheckLeakage measures their overlap); TextBatcher serves
//     a Corpus loaded from a dataset Manifest.
//   - ImportFiles chunks files into raw blocks and writes a Manifest with a deterministic
//     train/validation split; LoadCorpus reads it back, verifying every block.
//   - Tally and LossTally accumulate accuracy and cross-entropy; Aggregate turns run scores into a
//     Scores object (per run with per-segment partials, best per setting, mean per task, overall).
//
// Targets are int32 token ids, or Ignore (−1) where a position is unscored. docs/protocols.md is the
// reference for every task's layout, the protocols and the scoring.
//
// Evaluate runs one task (an architecture under a protocol with a seed) on any gpu.Device: it trains
// every setting in K segments, stores a checkpoint at each boundary, scores the test sets and returns
// the Result data with its digest chain; EvalState resumes it bit-identically (docs/eval.md).
//
// Protocols, settings, manifests and scores are plain values. Functions are safe for concurrent
// use; TaskBatcher is not (it reuses scratch buffers: use one per goroutine), TextBatcher and MemStore
// are.
package bench
