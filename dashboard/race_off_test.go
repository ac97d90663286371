//go:build !race

package dashboard

// raceEnabled: the tests run under the race detector, several times slower.
const raceEnabled = false
