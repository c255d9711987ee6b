// Package fmath provides bit-reproducible elementary functions for the training engine: Exp, Log,
// Tanh, Sigmoid, Sin, Cos and Sqrt on float32, and Exp64 and Log64 on float64.
//
// Go's math package may take different code paths on different CPUs (math.Exp uses an FMA path on
// amd64 when the CPU has FMA) and the compiler may fuse x*y+z into one fused multiply-add on some
// targets, so math.Exp, math.Log, math.Tanh, math.Sin and math.Cos can return different bits on
// different machines. Every function here is written in pure Go with each multiply-add either an
// explicit math.FMA (always one rounding, on every platform) or separated by an explicit float64()
// conversion (which the language forbids the compiler to fuse), so a given input produces the same
// bits on every platform, compiler target and thread.
//
// Accuracy: the float32 functions are evaluated in float64 and rounded once; they are within 1 ulp of
// the true result (most results are correctly rounded). Exp64 and Log64 follow fdlibm (Sun's freely
// distributable math library, as Go's pure-Go math.Exp and math.Log do) and are within 1 ulp.
//
// Every function is safe for concurrent use; none allocates.
package fmath
