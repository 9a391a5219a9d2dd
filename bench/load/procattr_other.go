//go:build !linux

package main

import "os/exec"

// setDeathSignal does nothing off Linux: children are stopped by the
// benchmark's own cleanup only.
func setDeathSignal(*exec.Cmd) {}

// raiseFileLimit does nothing off Linux (where the benchmark's /proc
// readings do not work either).
func raiseFileLimit() (uint64, error) { return 1 << 20, nil }
