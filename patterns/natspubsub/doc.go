// Package natspubsub demonstrates NATS core publish/subscribe: the publisher
// sends each tick once, to a subject; the NATS server hands a copy to every
// subscription whose subject matches; and nobody waits for anybody. There is
// no HTTP here and no request: publisher and subscribers are peers, each a
// client of the broker, and none knows the others exist.
//
// On the wire (the NATS text protocol, one TCP connection per client) the feed
// sends, and the server forwards to each matching subscription by its id:
//
//	HPUB ticks.ACME 41 108                    feed -> server: subject, header size, total size
//	NATS/1.0
//	Commlab-Epoch: 4XQ2M7TBWJ3K
//
//	{"seq":1042,"symbol":"ACME","price":101.37,"t_us":1764122400123456}
//
//	HMSG ticks.ACME 1 41 108                  server -> subscriber, subscription id 1, same bytes
//
// # Publisher
//
// The publisher already exists: the lab's feed (shared.Feed.Publish) publishes
// every tick to ticks.<SYMBOL>, with the tick's JSON as the payload (the same
// bytes every other pattern sends) and the feed's epoch in a header. This
// package adds no publisher of its own; the lesson is what that one call,
// nc.PublishMsg, promises, and what it does not:
//
//   - Fire and forget. PublishMsg returns as soon as the message is in the
//     connection's outgoing buffer. It fails only for a closed connection, an
//     invalid subject, a payload over the server's max_payload (1 MiB), or a
//     full reconnect buffer (8 MiB, kept while the connection is down). It
//     does not know how many subscribers there are, and waits for none.
//   - No subscriber, no message. The server forwards a message to the
//     subscriptions that exist at that moment and keeps nothing. A tick nobody
//     subscribed to is gone, and a subscriber that comes later never sees it.
//   - One publish, any number of copies. The publisher's cost is the same for
//     zero subscribers or a thousand; the server makes the copies.
//   - Order. Messages from one publisher reach each subscription in the order
//     they were published. There is no order between different publishers.
//
// A subject is a string of tokens separated by dots, general to specific:
// ticks.ACME. It is the only thing the server routes on. A subscription names a
// subject, or a pattern with wildcards: * stands for exactly one token, and >,
// only as the last token, for one or more.
//
//	subscription    ticks.ACME  ticks.GLOBX  ticks.ACME.x  ticks   quotes.ACME
//	ticks.ACME      yes         -            -             -       -
//	ticks.*         yes         yes          -             -       -
//	ticks.>         yes         yes          yes           -       -
//	*.ACME          yes         -            -             -       yes
//
// # Subscriber
//
// [Subscribe] takes a connection and a subject and calls fn for every tick
// until its context ends. It uses a synchronous subscription: the library's
// reader goroutine reads the socket and puts each message in this
// subscription's pending queue; Subscribe takes them out one by one with
// NextMsgWithContext and calls fn on its own goroutine, in arrival order. Before
// it counts itself subscribed, it makes a round trip to the server (Flush),
// because Subscribe only queues the SUB: a tick published before the server has
// it would not come.
//
// There is no resume. Core NATS delivers at most once: a tick missed while the
// connection was down or while the subscriber was too slow is never sent again.
// The connection reconnects and re-subscribes by itself, and Subscribe counts
// what was lost: Dropped for what the library threw away, and Gaps for seqs
// that never arrived. Gaps only mean something on a subject that promises every
// tick ([SeesEveryTick]: ticks.> or ticks.*); ticks.ACME skips seqs by design.
//
// A slow subscriber is the lesson's centre. The library's reader goroutine
// keeps reading the socket at full speed whatever the subscriber does, so the
// server never sees a slow client; the subscription's pending queue grows
// instead. Past its limit (Options.PendingMsgs; by default, for a synchronous
// subscription, the size of its channel: 65,536 messages, or 64 MiB) the
// library drops every new message for that subscription. A subscriber can learn of it in three ways, and the demo shows
// the first two:
//
//   - sub.Dropped(): an exact count, read at any time. Subscribe reads it, and
//     sub.Pending(), between messages (Stats.Dropped, Stats.Pending).
//   - The connection's asynchronous error handler gets ErrSlowConsumer, with
//     the subscription, once per episode: from the first drop until a message
//     fits again. A handler belongs to the connection, not the subscription, so
//     [ErrorHandler] binds it to one subscriber's Stats: one subscriber, one
//     connection, as separate programs would be. (Without a handler, nats.go
//     prints each report to stderr.)
//   - NextMsg returns ErrSlowConsumer once if the subscription is still marked
//     slow when it is called. Subscribe logs it and asks again.
//
// [Group] runs several subscribers side by side, each on a connection of its
// own, and [RunDemo] prints what they get: the `commlab demo pubsub` command.
//
// # Request and reply
//
// [QuoteService] answers requests on quote.<SYMBOL> with the newest tick it
// has heard on ticks.*. Request/reply is publish/subscribe with a reply
// subject: the requester subscribes to a fresh inbox, publishes the request
// naming it, and waits for one message there; the service publishes its
// answer to that inbox. A request that no subscription matches is not left to
// time out: the server answers it at once with "no responders". The
// service's two handlers are this package's coding exercise (README.md).
//
// # Trade-offs
//
//   - At most once. There are no acks and no redelivery: a subscriber that is
//     disconnected, or too slow, loses ticks, and only the seqs tell it so. For
//     work that must not be lost, use JetStream (see the natsqueue pattern),
//     which stores messages and redelivers until they are acknowledged.
//   - No replay. A new subscriber starts with the next tick, not the history,
//     and cannot ask for what it missed: there is no Last-Event-ID. The HTTP
//     patterns can resume only because the gateway keeps a history ring;
//     JetStream is NATS's answer when subscribers need one.
//   - Fan-out is the server's cost. The publisher sends each tick once; the
//     server writes a copy to every matching connection. Fan-out to many
//     processes is the broker's job, as fan-out to many browsers is the
//     gateway's hub in the HTTP patterns.
//   - Slow consumer policy, client side or server side. A client that reads
//     its socket but cannot process loses messages in its own library (pending
//     limit, counted, reported as ErrSlowConsumer), and nobody else notices. A
//     client that stops reading its socket fills the server's outbound buffer
//     for it: past max_pending (64 MiB) or a blocked write over the write
//     deadline (10 s) the server logs "Slow Consumer Detected" and closes the
//     connection; the client reconnects, re-subscribes, and has lost
//     everything in between. Either way the other subscribers are untouched.
//     The publisher is not entirely: while a consumer's server-side buffer is
//     over 75% full, nats-server slows the reading of that producer's
//     connection for 2 to 5 ms at a time (fast-producer stall, off with
//     NoFastProducerStall). Client-side drops, the demo's case, never stall
//     anyone.
//   - Subject design is the API. The server filters by subject and by nothing
//     else, so the subject hierarchy decides which slices a subscriber can
//     ask for: ticks.<SYMBOL> gives "one symbol" and "all"; a subject such as
//     ticks.<EXCHANGE>.<SYMBOL> would add "one exchange" (ticks.NYSE.>). A
//     slice the hierarchy does not spell, such as "price above 100", must be
//     filtered by the subscriber, after the bytes have crossed the network.
package natspubsub
