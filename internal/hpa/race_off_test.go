//go:build !race

package hpa

const raceEnabled = false
