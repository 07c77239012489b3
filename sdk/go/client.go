package unitledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Client reports usage for one extension and follows its enforcement state.
// It is safe for concurrent use; Close it when done.
type Client struct {
	opts       Options
	subject    string
	nc         *nats.Conn
	js         jetstream.JetStream
	view       *enforcementView
	buffer     *offlineBuffer
	heartbeat  *heartbeater
	updates    chan StateChange
	callbacks  chan StateChange
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	closeOnce  sync.Once
	subs       []*nats.Subscription
	lastReport lastReport
}

type lastReport struct {
	mu sync.Mutex
	at *time.Time
}

func (l *lastReport) set(t time.Time) {
	l.mu.Lock()
	l.at = &t
	l.mu.Unlock()
}

func (l *lastReport) get() *time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.at
}

// Connect connects to NATS with the extension token, reads the current
// enforcement state and starts the heartbeat. See [ConnectContext].
func Connect(opts Options) (*Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return ConnectContext(ctx, opts)
}

// ConnectContext is [Connect] bounded by ctx. It fails when the server
// refuses the token or cannot be reached at all; once connected, the client
// reconnects by itself and buffers reports while the server is away.
func ConnectContext(ctx context.Context, opts Options) (*Client, error) {
	opts = opts.withDefaults()
	if _, bounded := ctx.Deadline(); !bounded {
		// nats.go's FlushWithContext refuses a context without a deadline; an
		// unbounded ctx gets Connect's 30 s, and cancelling ctx still ends the wait.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	if err := checkExtensionID(opts.ExtensionID); err != nil {
		return nil, err
	}
	if opts.Account != "" {
		if err := checkAccount(opts.Account); err != nil {
			return nil, err
		}
	}
	if opts.Token == "" {
		return nil, &Error{Code: "unauthorized", Status: 401, Title: "Authentication required",
			Detail: "no token: pass a token or set UNITLEDGER_TOKEN to an extension token"}
	}
	life, cancel := context.WithCancel(context.Background())
	c := &Client{
		opts:      opts,
		subject:   reportSubjectPrefix + opts.ExtensionID,
		view:      &enforcementView{extensionID: opts.ExtensionID},
		buffer:    newOfflineBuffer(opts.BufferSize),
		updates:   make(chan StateChange, 64),
		callbacks: make(chan StateChange, 1024),
		ctx:       life,
		cancel:    cancel,
	}
	nc, err := nats.Connect(strings.Join(opts.Servers, ","),
		nats.Token(opts.Token),
		nats.Name(opts.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.Timeout(5*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			opts.Logger.Warn("unitledger: disconnected", "error", err)
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			opts.Logger.Info("unitledger: reconnected")
			c.buffer.wake()
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				if err := c.readEnforcement(c.ctx); err != nil {
					opts.Logger.Warn("unitledger: enforcement state not refreshed", "error", err)
				}
			}()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			opts.Logger.Warn("unitledger: asynchronous NATS error", "error", err)
		}),
	)
	if err != nil {
		cancel()
		return nil, connectError(err, opts)
	}
	c.nc = nc
	c.js, err = jetstream.New(nc)
	if err != nil {
		c.abort()
		return nil, err
	}
	// Subscribe first, then read the bucket, so no change falls in between.
	for _, subject := range []string{globalSubject, extSubjectPrefix + opts.ExtensionID} {
		sub, err := nc.Subscribe(subject, c.onBroadcast)
		if err != nil {
			c.abort()
			return nil, err
		}
		c.subs = append(c.subs, sub)
	}
	if err := nc.FlushWithContext(ctx); err != nil {
		c.abort()
		return nil, connectError(err, opts)
	}
	if err := c.readEnforcement(ctx); err != nil {
		c.abort()
		return nil, err
	}
	c.heartbeat = newHeartbeater(c)
	c.heartbeat.start(ctx)
	c.wg.Add(2)
	go c.deliverUpdates()
	go c.replayLoop()
	return c, nil
}

// connectError turns a refused connection into the SDK's typed error.
func connectError(err error, opts Options) error {
	if errors.Is(err, nats.ErrAuthorization) || strings.Contains(strings.ToLower(err.Error()), "authorization") {
		return &Error{Code: "unauthorized", Status: 401, Title: "Authentication required",
			Detail: "the server refused the token: use an extension token that exists and is not revoked (unitledger token create --role extension)"}
	}
	// The same words in every SDK (sdk/conformance/scenario.md, step 0); the
	// library's own reason goes to the log.
	opts.Logger.Warn("unitledger: cannot connect to NATS", "error", err)
	return &Error{Code: "unavailable", Status: 503, Title: "Service unavailable", Retryable: true,
		Detail: "cannot connect to unitledger over NATS at " + strings.Join(opts.Servers, ",")}
}

func (c *Client) abort() {
	c.cancel()
	c.nc.Close()
}

// ExtensionID is the id this client reports as.
func (c *Client) ExtensionID() string { return c.opts.ExtensionID }

// State is the extension's current effective enforcement state: OK,
// WARNING, UNLICENSED or DISABLED.
func (c *Client) State() string { return c.view.state() }

// Enabled is false exactly when the state is DISABLED or UNLICENSED.
func (c *Client) Enabled() bool { return !disabled(c.view.state()) }

// Updates delivers enforcement updates as they arrive. The channel holds
// the latest 64; a reader that falls further behind misses the older ones
// (State is always current). It is closed by Close.
func (c *Client) Updates() <-chan StateChange { return c.updates }

// Buffered is the number of reports waiting in the offline buffer.
func (c *Client) Buffered() int { return c.buffer.len() }

// SetStatus sets the status the heartbeat reports (OK by default). While
// reports wait in the offline buffer the heartbeat says at least WARNING.
func (c *Client) SetStatus(status Status) { c.heartbeat.setStatus(status) }

// ReportUsage reports dimension increments, e.g.
// map[string]float64{"tables_replicated": 5}. See [Client.ReportUsageContext].
func (c *Client) ReportUsage(dimensions map[string]float64, opts ...ReportOption) (*UsageResult, error) {
	return c.ReportUsageContext(context.Background(), dimensions, opts...)
}

// ReportUsageContext reports dimension increments and returns the server's
// answer. Invalid input fails at once with an [*Error] matching
// [ErrInvalidReport]. When the server cannot be reached the report goes to
// the offline buffer and the result has Buffered set; when the buffer is
// full the error is [ErrBufferFull]. Cancelling ctx abandons the wait for the
// reply (the server may still record the report).
func (c *Client) ReportUsageContext(ctx context.Context, dimensions map[string]float64, opts ...ReportOption) (*UsageResult, error) {
	req, body, err := encodeReport(c.opts.ExtensionID, c.opts.Account, dimensions, opts)
	if err != nil {
		return nil, err
	}
	if c.ctx.Err() != nil {
		return nil, ErrClosed
	}
	// Behind reports already waiting, to keep their order.
	if c.buffer.len() > 0 {
		return c.enqueue(req)
	}
	res, err := c.send(ctx, body)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if retryable(err) {
			c.opts.Logger.Warn("unitledger: report buffered", "key", req.IdempotencyKey, "error", err)
			return c.enqueue(req)
		}
		return nil, err
	}
	return c.answered(res, req.IdempotencyKey)
}

// encodeReport validates a report with the server's rules and encodes it.
func encodeReport(extensionID, account string, dimensions map[string]float64, opts []ReportOption) (*reportRequest, []byte, error) {
	req := &reportRequest{
		ExtensionID:    extensionID,
		Account:        account,
		Dimensions:     make(map[string]float64, len(dimensions)),
		IdempotencyKey: newIdempotencyKey(),
	}
	for name, value := range dimensions {
		req.Dimensions[name] = value
	}
	for _, opt := range opts {
		opt(req)
	}
	if err := checkExtensionID(req.ExtensionID); err != nil {
		return nil, nil, err
	}
	if req.Account != "" {
		if err := checkAccount(req.Account); err != nil {
			return nil, nil, err
		}
	}
	if err := checkDimensions(req.Dimensions); err != nil {
		return nil, nil, err
	}
	if err := checkIdempotencyKey(req.IdempotencyKey); err != nil {
		return nil, nil, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, nil, err
	}
	return req, body, nil
}

func (c *Client) answered(res *UsageResult, key string) (*UsageResult, error) {
	res.IdempotencyKey = key
	c.lastReport.set(time.Now())
	if c.opts.FailFast && disabled(res.ExtensionState) {
		return nil, &DisabledError{State: res.ExtensionState, Reason: res.Reason, Result: res}
	}
	return res, nil
}

func (c *Client) enqueue(req *reportRequest) (*UsageResult, error) {
	if req.OccurredAt == "" {
		// A replayed report is dated when it was first submitted.
		req.OccurredAt = stamp(time.Now())
	}
	if !c.buffer.push(req) {
		return nil, ErrBufferFull
	}
	return &UsageResult{Buffered: true, IdempotencyKey: req.IdempotencyKey,
		State: c.view.state(), ExtensionState: c.view.state()}, nil
}

// send makes one attempt: the reply, or an error (retryable or final).
func (c *Client) send(ctx context.Context, body []byte) (*UsageResult, error) {
	attempt, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	msg := nats.NewMsg(c.subject)
	msg.Header.Set("Authorization", "Bearer "+c.opts.Token)
	msg.Data = body
	reply, err := c.nc.RequestMsgWithContext(attempt, msg)
	if err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) && c.ctx.Err() != nil {
			return nil, ErrClosed
		}
		return nil, &transportError{err: err}
	}
	return decodeReply(reply.Data)
}

// transportError is a failure to get any reply: always worth retrying.
type transportError struct{ err error }

func (e *transportError) Error() string {
	return "unitledger: no reply from the server: " + e.err.Error()
}
func (e *transportError) Unwrap() error { return e.err }

func retryable(err error) bool {
	var transport *transportError
	if errors.As(err, &transport) {
		return true
	}
	var server *Error
	return errors.As(err, &server) && server.Retryable
}

// Flush waits until the offline buffer is empty or ctx is done.
func (c *Client) Flush(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for c.buffer.len() > 0 {
		c.buffer.wake()
		select {
		case <-ctx.Done():
			return fmt.Errorf("unitledger: %d report(s) still buffered: %w", c.buffer.len(), ctx.Err())
		case <-c.ctx.Done():
			return ErrClosed
		case <-tick.C:
		}
	}
	return nil
}

// replayLoop sends buffered reports oldest first, one at a time, backing off
// while the server is unreachable (docs/protocol.md §4).
func (c *Client) replayLoop() {
	defer c.wg.Done()
	backoff := newBackoff()
	for {
		req, ok := c.buffer.peek()
		if !ok {
			backoff.reset()
			select {
			case <-c.ctx.Done():
				return
			case <-c.buffer.signal:
				continue
			}
		}
		body, err := json.Marshal(req)
		if err != nil {
			c.buffer.pop()
			continue
		}
		res, err := c.send(c.ctx, body)
		if err != nil && retryable(err) {
			select {
			case <-c.ctx.Done():
				return
			case <-c.buffer.signal:
				backoff.reset()
			case <-time.After(backoff.next()):
			}
			continue
		}
		c.buffer.pop()
		backoff.reset()
		if err == nil {
			res.IdempotencyKey = req.IdempotencyKey
			c.lastReport.set(time.Now())
		}
		if c.opts.OnReplay != nil {
			c.opts.OnReplay(req.IdempotencyKey, res, err)
		}
		if err != nil {
			c.opts.Logger.Error("unitledger: buffered report refused", "key", req.IdempotencyKey, "error", err)
		}
	}
}

func (c *Client) onBroadcast(msg *nats.Msg) {
	var change StateChange
	if err := json.Unmarshal(msg.Data, &change); err != nil {
		c.opts.Logger.Warn("unitledger: unreadable enforcement update", "error", err)
		return
	}
	c.observe(change)
}

func (c *Client) observe(change StateChange) {
	if !c.view.apply(change) {
		return
	}
	select {
	case c.callbacks <- change:
	default:
		c.opts.Logger.Warn("unitledger: enforcement callback queue full; update not delivered", "seq", change.Seq)
	}
}

// deliverUpdates calls OnEnforcement and feeds Updates from one goroutine,
// so callbacks see updates in order and never block NATS.
func (c *Client) deliverUpdates() {
	defer c.wg.Done()
	defer close(c.updates)
	for {
		select {
		case <-c.ctx.Done():
			return
		case change := <-c.callbacks:
			if c.opts.OnEnforcement != nil {
				c.opts.OnEnforcement(change)
			}
			select {
			case c.updates <- change:
			default:
				// Keep the newest: drop the oldest unread update.
				select {
				case <-c.updates:
				default:
				}
				c.updates <- change
			}
		}
	}
}

// readEnforcement reads the current state from the enforcement bucket.
func (c *Client) readEnforcement(ctx context.Context) error {
	kv, err := c.js.KeyValue(ctx, enforcementBucket)
	if err != nil {
		return fmt.Errorf("unitledger: cannot open the enforcement bucket %s: %w", enforcementBucket, err)
	}
	for _, key := range []string{globalKey, extKeyPrefix + c.opts.ExtensionID} {
		entry, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("unitledger: cannot read enforcement state %s: %w", key, err)
		}
		var change StateChange
		if err := json.Unmarshal(entry.Value(), &change); err != nil {
			return fmt.Errorf("unitledger: unreadable enforcement state %s: %w", key, err)
		}
		c.observe(change)
	}
	return nil
}

// Close stops the heartbeat (removing this instance's key, so the server
// sees it leave at once), waits up to RequestTimeout for buffered reports to
// be delivered, and closes the connection. Reports still buffered then are
// lost; call [Client.Flush] first to wait longer.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		if c.buffer.len() > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), c.opts.RequestTimeout)
			err = c.Flush(ctx)
			cancel()
		}
		c.heartbeat.stop()
		for _, sub := range c.subs {
			_ = sub.Unsubscribe()
		}
		c.cancel()
		c.nc.Close()
		c.wg.Wait()
	})
	return err
}
