// Command sdk-parity-go measures the Go SDK's sustained reports/s with a fixed
// number of reports in flight against a running server (bench/sdk_parity.sh).
// It prints one JSON line: {"sdk": "go", "reports": N, "seconds": S, "per_second": R}.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"time"

	unitledger "github.com/unitledger/unitledger/sdk/go"
)

func main() {
	inFlight := flag.Int("in-flight", 100, "reports in flight at once")
	warmup := flag.Duration("warmup", 2*time.Second, "time to report before measuring")
	duration := flag.Duration("duration", 10*time.Second, "time to measure")
	maxReports := flag.Int64("max-reports", 200_000, "stop after this many measured reports")
	extension := flag.String("extension", os.Getenv("UNITLEDGER_TEST_EXTENSION_ID"), "extension id")
	flag.Parse()

	client, err := unitledger.Connect(unitledger.Options{ExtensionID: *extension, Name: "sdk parity (Go)"})
	if err != nil {
		log.Fatalf("connect: %v", err)
	}
	defer client.Close()

	run := func(d time.Duration, limit int64) (int64, time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		var done, failed atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < *inFlight; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil && done.Load() < limit {
					res, err := client.ReportUsage(map[string]float64{"tables_replicated": 1})
					if err != nil || res.Buffered {
						failed.Add(1)
						continue
					}
					done.Add(1)
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			log.Fatalf("%d reports failed or were buffered: the server is not keeping up or not reachable", failed.Load())
		}
		return done.Load(), time.Since(start)
	}
	run(*warmup, *maxReports)
	n, elapsed := run(*duration, *maxReports)
	out, _ := json.Marshal(map[string]any{"sdk": "go", "reports": n, "seconds": elapsed.Seconds(),
		"per_second": float64(n) / elapsed.Seconds(), "in_flight": *inFlight})
	fmt.Println(string(out))
}
