// Go: a goroutine per connection, the idiomatic echo server (run with GOMAXPROCS=1).
//
//	go_echo PORT
package main

import (
	"net"
	"os"
)

func main() {
	port := "7000"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		panic(err)
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			buf := make([]byte, 16384)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil { // io.EOF or a reset: the connection is over
					return
				}
			}
		}(conn)
	}
}
