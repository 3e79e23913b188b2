// Peer benchmark: goroutine spawn + completion. N goroutines each do trivial work and call
// wg.Done(); main waits with wg.Wait(). A warm-up round of the same N runs first.
//
//	go_spawn [N]    default N = 1000000
//
// Prints one line: ns_per_goroutine=<float>
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func spawnAndWait(n int) float64 {
	var wg sync.WaitGroup
	var sum atomic.Int64
	wg.Add(n)
	start := time.Now()
	for i := 0; i < n; i++ {
		go func(i int) {
			sum.Add(int64(i & 1)) // the trivial work
			wg.Done()
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if want := int64(n / 2); sum.Load() != want {
		fmt.Fprintf(os.Stderr, "sum %d, want %d\n", sum.Load(), want)
		os.Exit(1)
	}
	return float64(elapsed.Nanoseconds()) / float64(n)
}

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 1 {
			fmt.Fprintln(os.Stderr, "usage: go_spawn [N]")
			os.Exit(2)
		}
		n = v
	}
	spawnAndWait(n) // warm-up: grows the heap and the goroutine free lists
	fmt.Printf("ns_per_goroutine=%.1f\n", spawnAndWait(n))
}
