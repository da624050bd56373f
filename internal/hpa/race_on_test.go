//go:build race

package hpa

const raceEnabled = true
