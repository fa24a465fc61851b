// Command franz runs franz-go (kgo) against a broker on 127.0.0.1 and writes down what
// kgo's own broker hooks say about every request, so that kapture's wire timings can be
// checked against the client's view of the same requests (tests/hooks.rs).
//
// It produces a bounded number of records to one topic (several partitions), consumes
// them back from the start of every partition (direct partition consuming, no group),
// and exits. Two clients are used, with distinct client ids, so that every request can
// be attributed to one of them on the wire:
//
//	kapture-franz-producer, kapture-franz-consumer
//
// Outputs (written when the program ends; the hooks only append to memory):
//
//   - -hooks FILE: JSON Lines, one object per hook call (see hookLine): every
//     OnBrokerConnect, OnBrokerWrite, OnBrokerRead and OnBrokerE2E, with kgo's durations
//     in nanoseconds and at_ns, the wall clock (Unix ns, time.Now) when the hook ran.
//   - -spans FILE: OTLP JSON Lines (one TracesData per line, the collector's
//     otlpjsonfile format), one span per Produce write (OnBrokerWrite, key 0) and one per
//     Fetch read (OnBrokerRead, key 1), each ending when its hook ran and backdated by
//     kgo's timeToWrite / timeToRead, with kotel-style messaging attributes.
//
// Every loop is bounded in count and in time (-timeout).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// hookLine is one line of the hook log. Durations are kgo's time.Durations in ns.
type hookLine struct {
	Seq    int    `json:"seq"`    // order of the hook calls in this process
	Client string `json:"client"` // the kgo client id that ran the hook
	Hook   string `json:"hook"`   // connect, write, read or e2e
	AtNs   int64  `json:"at_ns"`  // wall clock when the hook ran (Unix ns)
	Key    int16  `json:"key"`    // Kafka API key (absent meaning for connect)
	API    string `json:"api"`    // its name (kmsg.NameForKey)
	Node   int32  `json:"node"`   // broker node id (seed brokers are very negative)
	Host   string `json:"host"`
	Port   int32  `json:"port"`

	BytesWritten int    `json:"bytes_written"` // write, e2e: bytes of the request, length prefix included
	BytesRead    int    `json:"bytes_read"`    // read, e2e: bytes of the response, length prefix included
	WriteWaitNs  int64  `json:"write_wait_ns"` // write, e2e: enqueued -> conn.Write begins (client queueing)
	TimeToWrite  int64  `json:"time_to_write_ns"`
	ReadWaitNs   int64  `json:"read_wait_ns"` // read, e2e: conn.Write returned -> the read of this response begins
	TimeToRead   int64  `json:"time_to_read_ns"`
	Err          string `json:"err"` // write/read error ("" when none); e2e: the first of them

	// connect only
	DialNs int64  `json:"dial_ns,omitempty"`
	Local  string `json:"local,omitempty"`  // the connection's local address
	Remote string `json:"remote,omitempty"` // its remote address
}

type recorder struct {
	mu    sync.Mutex
	lines []hookLine
	spans []map[string]any
}

var rec recorder

func (r *recorder) add(l hookLine) hookLine {
	r.mu.Lock()
	l.Seq = len(r.lines)
	r.lines = append(r.lines, l)
	r.mu.Unlock()
	return l
}

// hooks implements kgo's broker hooks for one client.
type hooks struct{ client string }

var (
	_ kgo.HookBrokerConnect = hooks{}
	_ kgo.HookBrokerWrite   = hooks{}
	_ kgo.HookBrokerRead    = hooks{}
	_ kgo.HookBrokerE2E     = hooks{}
)

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (h hooks) base(hook string, meta kgo.BrokerMetadata, key int16) hookLine {
	return hookLine{
		Client: h.client, Hook: hook, AtNs: time.Now().UnixNano(), Key: key,
		API: kmsg.NameForKey(key), Node: meta.NodeID, Host: meta.Host, Port: meta.Port,
	}
}

func (h hooks) OnBrokerConnect(meta kgo.BrokerMetadata, dialDur time.Duration, conn net.Conn, err error) {
	l := h.base("connect", meta, -1)
	l.API = ""
	l.DialNs = int64(dialDur)
	l.Err = errString(err)
	if conn != nil {
		l.Local = conn.LocalAddr().String()
		l.Remote = conn.RemoteAddr().String()
	}
	rec.add(l)
}

func (h hooks) OnBrokerWrite(meta kgo.BrokerMetadata, key int16, bytesWritten int, writeWait, timeToWrite time.Duration, err error) {
	l := h.base("write", meta, key)
	l.BytesWritten = bytesWritten
	l.WriteWaitNs = int64(writeWait)
	l.TimeToWrite = int64(timeToWrite)
	l.Err = errString(err)
	l = rec.add(l)
	if key == 0 { // Produce: the write span
		rec.span(l, "produce write", "produce", "send", l.AtNs-l.TimeToWrite, l.AtNs)
	}
}

func (h hooks) OnBrokerRead(meta kgo.BrokerMetadata, key int16, bytesRead int, readWait, timeToRead time.Duration, err error) {
	l := h.base("read", meta, key)
	l.BytesRead = bytesRead
	l.ReadWaitNs = int64(readWait)
	l.TimeToRead = int64(timeToRead)
	l.Err = errString(err)
	l = rec.add(l)
	if key == 1 { // Fetch: the read span
		rec.span(l, "fetch read", "fetch", "receive", l.AtNs-l.TimeToRead, l.AtNs)
	}
}

func (h hooks) OnBrokerE2E(meta kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	l := h.base("e2e", meta, key)
	l.BytesWritten = e.BytesWritten
	l.BytesRead = e.BytesRead
	l.WriteWaitNs = int64(e.WriteWait)
	l.TimeToWrite = int64(e.TimeToWrite)
	l.ReadWaitNs = int64(e.ReadWait)
	l.TimeToRead = int64(e.TimeToRead)
	l.Err = errString(e.Err())
	rec.add(l)
}

// span records one OTLP span (JSON mapping of opentelemetry-proto: hex ids, integer
// enums, 64-bit integers as strings), kind CLIENT, with the attributes kotel puts on
// its spans plus kgo.* ones carrying the hook's own numbers.
func (r *recorder) span(l hookLine, name, op, opType string, start, end int64) {
	str := func(k, v string) map[string]any {
		return map[string]any{"key": k, "value": map[string]any{"stringValue": v}}
	}
	num := func(k string, v int64) map[string]any {
		return map[string]any{"key": k, "value": map[string]any{"intValue": strconv.FormatInt(v, 10)}}
	}
	attrs := []map[string]any{
		str("messaging.system", "kafka"),
		str("messaging.operation.name", op),
		str("messaging.operation.type", opType),
		str("messaging.client.id", l.Client),
		str("server.address", l.Host),
		num("server.port", int64(l.Port)),
		num("kgo.node_id", int64(l.Node)),
		num("kgo.hook_seq", int64(l.Seq)),
	}
	if l.Hook == "write" {
		attrs = append(attrs, num("kgo.bytes_written", int64(l.BytesWritten)),
			num("kgo.write_wait_ns", l.WriteWaitNs), num("kgo.time_to_write_ns", l.TimeToWrite))
	} else {
		attrs = append(attrs, num("kgo.bytes_read", int64(l.BytesRead)),
			num("kgo.read_wait_ns", l.ReadWaitNs), num("kgo.time_to_read_ns", l.TimeToRead))
	}
	s := map[string]any{
		"traceId":           randHex(16),
		"spanId":            randHex(8),
		"name":              name,
		"kind":              3,
		"startTimeUnixNano": strconv.FormatInt(start, 10),
		"endTimeUnixNano":   strconv.FormatInt(end, 10),
		"attributes":        attrs,
		"status":            map[string]any{},
	}
	if l.Err != "" {
		s["status"] = map[string]any{"code": 2, "message": l.Err}
		attrs = append(attrs, str("error.type", l.Err))
		s["attributes"] = attrs
	}
	r.mu.Lock()
	r.spans = append(r.spans, s)
	r.mu.Unlock()
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func writeLines(path string, n int, line func(i int) any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for i := 0; i < n; i++ {
		if err := enc.Encode(line(i)); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "seed broker")
	topic := flag.String("topic", "kapture-franz", "topic (created beforehand, several partitions)")
	rounds := flag.Int("rounds", 30, "produce rounds, each flushed before the next")
	perRound := flag.Int("per-round", 10, "records per round")
	pipelined := flag.Int("pipelined", 60, "records produced after the rounds, 300 µs apart, without a flush")
	hookPath := flag.String("hooks", "franz.hooks.jsonl", "hook log (JSON Lines)")
	spanPath := flag.String("spans", "franz.hookspans.jsonl", "hook spans (OTLP JSON Lines)")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *brokers, *topic, *rounds, *perRound, *pipelined); err != nil {
		fmt.Fprintln(os.Stderr, "franz:", err)
		os.Exit(1)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if err := writeLines(*hookPath, len(rec.lines), func(i int) any { return rec.lines[i] }); err != nil {
		fmt.Fprintln(os.Stderr, "franz:", err)
		os.Exit(1)
	}
	resource := map[string]any{"attributes": []map[string]any{
		{"key": "service.name", "value": map[string]any{"stringValue": "kapture-franz-hooks"}},
	}}
	scope := map[string]any{"name": "kapture/testdata/record/franz", "version": "1"}
	if err := writeLines(*spanPath, len(rec.spans), func(i int) any {
		return map[string]any{"resourceSpans": []any{map[string]any{
			"resource":   resource,
			"scopeSpans": []any{map[string]any{"scope": scope, "spans": []any{rec.spans[i]}}},
		}}}
	}); err != nil {
		fmt.Fprintln(os.Stderr, "franz:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "franz: %d hook calls, %d spans\n", len(rec.lines), len(rec.spans))
}

// value gives record i of a round its payload: 100-299 bytes, except in every 15th
// round, whose records of 7-8.5 KB make Produce requests of more than one loopback
// segment (65483 bytes).
func value(round, i int) []byte {
	n := 100 + (i*37)%200
	if round%15 == 14 {
		n = 7000 + (i*131)%1500
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil { // incompressible, like most real payloads
		panic(err)
	}
	return b
}

func run(ctx context.Context, brokers, topic string, rounds, perRound, pipelined int) error {
	const producerID = "kapture-franz-producer"
	prod, err := kgo.NewClient(
		kgo.SeedBrokers(brokers),
		kgo.ClientID(producerID),
		kgo.WithHooks(hooks{producerID}),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	if err != nil {
		return err
	}
	total := rounds * perRound
	var (
		mu       sync.Mutex
		produced int
		firstErr error
	)
	for r := 0; r < rounds; r++ {
		for i := 0; i < perRound; i++ {
			rcd := &kgo.Record{Key: []byte(fmt.Sprintf("k%03d", r*perRound+i)), Value: value(r, i)}
			prod.Produce(ctx, rcd, func(_ *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					produced++
				}
			})
		}
		if err := prod.Flush(ctx); err != nil {
			prod.Close()
			return fmt.Errorf("flush: %w", err)
		}
	}
	// Then records one every 300 µs without a flush: with a 2 ms linger, a Produce
	// request is ready before the previous one is answered, and kgo keeps several in
	// flight on the connection (up to 5, idempotent), so its readWait becomes the wait
	// for the earlier responses.
	for i := 0; i < pipelined; i++ {
		rcd := &kgo.Record{Key: []byte(fmt.Sprintf("p%03d", i)), Value: value(0, i)}
		prod.Produce(ctx, rcd, func(_ *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if err == nil {
				produced++
			}
		})
		time.Sleep(300 * time.Microsecond)
	}
	if err := prod.Flush(ctx); err != nil {
		prod.Close()
		return fmt.Errorf("flush: %w", err)
	}
	total += pipelined
	prod.Close()
	if firstErr != nil {
		return fmt.Errorf("produce: %w", firstErr)
	}
	if produced != total {
		return fmt.Errorf("produced %d of %d", produced, total)
	}

	const consumerID = "kapture-franz-consumer"
	cons, err := kgo.NewClient(
		kgo.SeedBrokers(brokers),
		kgo.ClientID(consumerID),
		kgo.WithHooks(hooks{consumerID}),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Small fetches: many Fetch exchanges, some of them big enough for several
		// segments; the last ones wait on the broker for data that never comes.
		kgo.FetchMaxBytes(48<<10),
		kgo.FetchMaxPartitionBytes(16<<10),
		kgo.FetchMaxWait(300*time.Millisecond),
	)
	if err != nil {
		return err
	}
	got := 0
	for got < total {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			cons.Close()
			return fmt.Errorf("consumed %d of %d: %w", got, total, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			cons.Close()
			return ferr
		}
		got += fs.NumRecords()
	}
	// Let the next long-polling fetches come back empty before closing, so the capture
	// holds Fetch exchanges whose wait is the broker's max wait.
	time.Sleep(700 * time.Millisecond)
	cons.Close()
	fmt.Fprintf(os.Stderr, "franz: produced %d, consumed %d records of %s\n", total, got, topic)
	return nil
}
