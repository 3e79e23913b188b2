// Peer benchmark: unbuffered channel ping-pong. Under GOMAXPROCS=1 (or `procs`), main sends on
// `ping` and receives on `pong`; one goroutine echoes every value back. Each round trip is two
// messages. With procs=2 it is the peer of `sync_bench channel_cross` (two hubs, two threads).
//
//	go_channel [round_trips] [procs]    default 5000000 1
//
// Prints one line: ns_per_message=<float> (total time / (2 * round trips)).
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func pingPong(roundTrips int) float64 {
	ping := make(chan int)
	pong := make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	start := time.Now()
	for i := 0; i < roundTrips; i++ {
		ping <- i
		<-pong
	}
	elapsed := time.Since(start)
	close(ping)
	return float64(elapsed.Nanoseconds()) / float64(2*roundTrips)
}

func main() {
	procs := 1
	if len(os.Args) > 2 {
		v, err := strconv.Atoi(os.Args[2])
		if err != nil || v < 1 {
			fmt.Fprintln(os.Stderr, "usage: go_channel [round_trips] [procs]")
			os.Exit(2)
		}
		procs = v
	}
	runtime.GOMAXPROCS(procs)
	roundTrips := 5000000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 1 {
			fmt.Fprintln(os.Stderr, "usage: go_channel [round_trips] [procs]")
			os.Exit(2)
		}
		roundTrips = v
	}
	pingPong(roundTrips/10 + 1) // warm-up
	fmt.Printf("ns_per_message=%.2f\n", pingPong(roundTrips))
}
