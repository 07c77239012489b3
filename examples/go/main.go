// Command oracle-cdc is an example extension: it "replicates" a few tables
// every interval, reports the work to unitledger and stops working while the
// license disables it.
//
//	export UNITLEDGER_TOKEN=$(unitledger token create --role extension --extension oracle-cdc | tail -1)
//	go run . -reports 10
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/signal"
	"time"

	unitledger "github.com/unitledger/unitledger/sdk/go"
)

func main() {
	extension := flag.String("extension", "oracle-cdc", "extension id to report as")
	account := flag.String("account", "svc-etl@finance", "account the work is done for")
	reports := flag.Int("reports", 10, "how many reports to send (0: until interrupted)")
	interval := flag.Duration("interval", time.Second, "time between reports")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// Token from UNITLEDGER_TOKEN, server from UNITLEDGER_NATS_URL (default nats://127.0.0.1:4222).
	client, err := unitledger.ConnectContext(ctx, unitledger.Options{
		ExtensionID: *extension,
		Name:        "example " + *extension + " (Go)",
		Account:     *account,
		OnEnforcement: func(c unitledger.StateChange) {
			fmt.Printf("enforcement: %s is now %s (%s)\n", c.Scope, c.State, c.Reason)
		},
	})
	if err != nil {
		log.Fatalf("connect: %v", err)
	}
	defer client.Close()
	fmt.Printf("connected as %s, state %s\n", client.ExtensionID(), client.State())

	ticker := time.NewTicker(*interval)
	defer ticker.Stop()
	for sent := 0; *reports == 0 || sent < *reports; sent++ {
		if !client.Enabled() {
			fmt.Printf("disabled (%s): no work this round\n", client.State())
		} else {
			work := map[string]float64{
				"tables_replicated":    float64(1 + rand.IntN(5)),
				"bytes_transferred_gb": float64(rand.IntN(400)) / 100,
			}
			res, err := client.ReportUsageContext(ctx, work)
			switch {
			case errors.Is(err, unitledger.ErrBufferFull):
				fmt.Println("server unreachable and buffer full; pausing")
			case err != nil:
				log.Fatalf("report: %v", err)
			case res.Buffered:
				fmt.Printf("server unreachable: report %s buffered (%d waiting)\n", res.IdempotencyKey, client.Buffered())
			default:
				fmt.Printf("reported %v -> %.2f units (record %d, state %s)\n", work, res.Units, *res.RecordID, res.ExtensionState)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
	flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Flush(flushCtx); err != nil {
		log.Printf("flush: %v", err)
	}
}
