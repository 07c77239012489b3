package unitledger_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	unitledger "github.com/unitledger/unitledger/sdk/go"
)

// Connect with the extension's token (or $UNITLEDGER_TOKEN) and report the
// work one unit of processing did. The answer carries the units charged and
// the enforcement state, so the extension can adapt at once.
func ExampleConnect() {
	client, err := unitledger.Connect(unitledger.Options{
		ExtensionID: "oracle-cdc",
		Account:     "svc-etl@finance",
		Servers:     []string{"nats://127.0.0.1:4222"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	res, err := client.ReportUsage(map[string]float64{"tables_replicated": 5})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%.1f units, state %s\n", res.Units, res.ExtensionState)
}

// ReportUsageContext bounds the call; a report the server cannot take right
// now goes to the offline buffer and is replayed in order, exactly once.
func ExampleClient_ReportUsageContext() {
	client, err := unitledger.Connect(unitledger.Options{ExtensionID: "kafka-bridge"})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res, err := client.ReportUsageContext(ctx,
		map[string]float64{"events_processed": 40000, "bytes_transferred_gb": 1.5},
		unitledger.WithAccount("svc-ingest@marketing"))
	switch {
	case errors.Is(err, unitledger.ErrInvalidReport):
		log.Printf("the report was refused: %v", err)
	case err != nil:
		log.Fatal(err)
	case res.RecordID == nil:
		log.Printf("buffered for replay (%d waiting)", client.Buffered())
	default:
		log.Printf("record %d: %.2f units", *res.RecordID, res.Units)
	}
}

// Enforcement updates arrive on a channel the moment the server's state
// changes, e.g. to pause optional work when capacity runs low.
func ExampleClient_Updates() {
	client, err := unitledger.Connect(unitledger.Options{ExtensionID: "s3-archiver"})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	for change := range client.Updates() {
		log.Printf("%s is now %s: %s", change.Scope, change.State, change.Reason)
		if !client.Enabled() {
			log.Print("pausing: the license no longer covers this extension")
		}
	}
}
