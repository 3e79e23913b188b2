// Peer benchmark: many timers. N goroutines each sleep a random duration in [0, 1 s); the
// durations come from a fixed seed and are drawn before the clock starts. Reports the wall
// time beyond the 1 s floor (spawning included), the time the spawn loop took, and the peak
// RSS (VmHWM), and the process's CPU time (user + system, every thread) for the whole program:
// on a loaded machine wall time also counts the time other processes ran.
// A small warm-up round (N/100 goroutines, sleeps under 10 ms) runs first.
//
//	go_timers [N] [rate]    default N = 1000000; rate (goroutines a second) paces the spawn loop
//
// Prints one line: extra_ms=<float> spawn_ms=<float> peak_rss_kib=<int> cpu_ms=<float>
// peak_alive=<int> rss_per_alive_b=<float>
package main

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// statusKiB returns a "Vm...:" field of /proc/self/status, in KiB.
func statusKiB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, field+":") {
			parts := strings.Fields(line)
			v, err := strconv.ParseInt(parts[1], 10, 64)
			if err != nil {
				panic(err)
			}
			return v
		}
	}
	panic("no " + field + " in /proc/self/status")
}

// started, woke and peakAlive count goroutines that began and ended their sleep: peak_alive is
// the most sleeping at once (what the peak RSS pays for), as timer_bench counts its fibers.
var started, woke, peakAlive atomic.Int64

// sleepAll runs one goroutine per duration; it returns the time spent spawning them and the
// wall time until all are done.
// rate > 0 paces the spawn loop at rate goroutines a second (see timer_bench).
func sleepAll(durations []time.Duration, rate int) (spawn, wall time.Duration) {
	var wg sync.WaitGroup
	wg.Add(len(durations))
	start := time.Now()
	chunk := len(durations)
	if rate > 0 {
		chunk = rate / 1000
		if chunk < 1 {
			chunk = 1
		}
	}
	for i, d := range durations {
		if rate > 0 && i%chunk == 0 {
			time.Sleep(time.Until(start.Add(time.Duration(int64(i) * int64(time.Second) / int64(rate)))))
		}
		go func(d time.Duration) {
			s := started.Add(1)
			for alive, peak := s-woke.Load(), peakAlive.Load(); alive > peak; peak = peakAlive.Load() {
				if peakAlive.CompareAndSwap(peak, alive) {
					break
				}
			}
			time.Sleep(d)
			woke.Add(1)
			wg.Done()
		}(d)
	}
	spawn = time.Since(start)
	wg.Wait()
	return spawn, time.Since(start)
}

func randomDurations(rng *rand.Rand, n int, max time.Duration) []time.Duration {
	durations := make([]time.Duration, n)
	for i := range durations {
		durations[i] = time.Duration(rng.Int63n(int64(max)))
	}
	return durations
}

func main() {
	n, rate := 1000000, 0
	for i, p := range []*int{&n, &rate} {
		if len(os.Args) > i+1 {
			v, err := strconv.Atoi(os.Args[i+1])
			if err != nil || v < 0 || (i == 0 && v < 1) {
				fmt.Fprintln(os.Stderr, "usage: go_timers [N] [rate]")
				os.Exit(2)
			}
			*p = v
		}
	}
	rng := rand.New(rand.NewSource(42))
	sleepAll(randomDurations(rng, n/100+1, 10*time.Millisecond), 0) // warm-up
	started.Store(0)
	woke.Store(0)
	peakAlive.Store(0)
	spawn, wall := sleepAll(randomDurations(rng, n, time.Second), rate)
	extra := wall - time.Second
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	peakKiB := statusKiB("VmHWM")
	fmt.Printf("extra_ms=%.1f spawn_ms=%.1f peak_rss_kib=%d cpu_ms=%.1f peak_alive=%d rss_per_alive_b=%.0f\n",
		float64(extra.Nanoseconds())/1e6, float64(spawn.Nanoseconds())/1e6, peakKiB,
		float64(cpu.Nanoseconds())/1e6, peakAlive.Load(), float64(peakKiB)*1024/float64(peakAlive.Load()))
}
