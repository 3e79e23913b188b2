// The Go peer benchmarks: standard library only, so they build offline.
module grove/bench/peers

go 1.19
