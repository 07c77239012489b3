package unitledger

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// heartbeater writes this instance's heartbeat into the heartbeat bucket on
// connect and every TTL/2, and deletes it on Close (docs/protocol.md §6).
type heartbeater struct {
	client     *Client
	key        string
	instanceID string
	host       string
	mu         sync.Mutex
	status     Status
	kv         jetstream.KeyValue
	done       chan struct{}
	stopped    chan struct{}
}

func newHeartbeater(c *Client) *heartbeater {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	instance := randomHex(8)
	return &heartbeater{
		client:     c,
		key:        c.opts.ExtensionID + "." + instance,
		instanceID: instance,
		host:       host,
		status:     StatusOK,
		done:       make(chan struct{}),
		stopped:    make(chan struct{}),
	}
}

func (h *heartbeater) setStatus(s Status) {
	h.mu.Lock()
	h.status = s
	h.mu.Unlock()
}

// start writes the first heartbeat and starts the periodic one.
func (h *heartbeater) start(ctx context.Context) {
	interval := h.client.opts.HeartbeatInterval
	if err := h.beat(ctx); err != nil {
		h.client.opts.Logger.Warn("unitledger: heartbeat not written", "error", err)
	}
	if interval <= 0 {
		interval = 30 * time.Second
		if h.kv != nil {
			if status, err := h.kv.Status(ctx); err == nil && status.TTL() > 0 {
				interval = status.TTL() / 2
			}
		}
	}
	go h.loop(interval)
}

func (h *heartbeater) loop(interval time.Duration) {
	defer close(h.stopped)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-ticker.C:
			ctx, cancel := context.WithTimeout(h.client.ctx, h.client.opts.RequestTimeout)
			if err := h.beat(ctx); err != nil {
				h.client.opts.Logger.Warn("unitledger: heartbeat not written", "error", err)
			}
			cancel()
		}
	}
}

// value is the heartbeat body as of now.
func (h *heartbeater) value() heartbeat {
	h.mu.Lock()
	status := h.status
	h.mu.Unlock()
	if status == StatusOK && h.client.buffer.len() > 0 {
		status = StatusWarning
	}
	var last *string
	if at := h.client.lastReport.get(); at != nil {
		s := stamp(*at)
		last = &s
	}
	return heartbeat{
		V: 1, ExtensionID: h.client.opts.ExtensionID, InstanceID: h.instanceID,
		Status: status, SDK: "go/" + Version, Host: h.host, PID: os.Getpid(),
		LastReportAt: last, At: stamp(time.Now()),
	}
}

func (h *heartbeater) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.kv == nil {
		kv, err := h.client.js.KeyValue(ctx, heartbeatBucket)
		if err != nil {
			return nil, err
		}
		h.kv = kv
	}
	return h.kv, nil
}

func (h *heartbeater) beat(ctx context.Context) error {
	kv, err := h.bucket(ctx)
	if err != nil {
		return err
	}
	body, err := json.Marshal(h.value())
	if err != nil {
		return err
	}
	_, err = kv.Put(ctx, h.key, body)
	return err
}

// stop ends the periodic heartbeat and removes this instance's key.
func (h *heartbeater) stop() {
	close(h.done)
	<-h.stopped
	if h.kv == nil || !h.client.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := h.kv.Delete(ctx, h.key); err != nil {
		h.client.opts.Logger.Warn("unitledger: heartbeat key not removed", "error", err)
	}
}
