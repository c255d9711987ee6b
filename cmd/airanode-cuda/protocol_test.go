package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

const protocolChild = "AIRANODE_CUDA_TEST_PROTOCOL_CHILD"

// TestMain lets the test binary act as a child process for TestProtocolOutput.
func TestMain(m *testing.M) {
	if os.Getenv(protocolChild) == "1" {
		out, err := protocolOutput()
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		fmt.Println("stray print") // goes to stderr now
		os.Stdout.WriteString("stray write\n")
		if _, err := out.WriteString("FRAME"); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestProtocolOutput: after protocolOutput, only what is written to the returned file reaches the
// original standard output; prints to os.Stdout go to standard error.
func TestProtocolOutput(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("standard output is moved only on Linux")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), protocolChild+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	if stdout.String() != "FRAME" {
		t.Fatalf("stdout %q, want only the protocol bytes", stdout.String())
	}
	if !strings.Contains(stderr.String(), "stray print") || !strings.Contains(stderr.String(), "stray write") {
		t.Fatalf("stderr %q should hold the stray output", stderr.String())
	}
}
