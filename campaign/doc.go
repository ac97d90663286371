// Package campaign pays a file of openids, one red packet each, at the
// merchant's rate, resumably: a campaign can be stopped at any instant
// (a crash, SIGKILL, a reboot) and run again, on one machine or on many,
// without paying any row twice or losing an outcome.
//
//	store, err := campaign.Open(ctx, "redpack-campaigns.db") // or a postgres:// URL
//	rows, err := campaign.ParseFile(file, tmpl, campaign.ParseOptions{})
//	_, err = store.Create(ctx, campaign.Spec{Name: "spring", Template: tmpl}, rows)
//	totals, err := store.Run(ctx, "spring", campaign.RunConfig{Merchant: cfg})
//
// # The journal is the truth
//
// A Store is a SQLite file or a PostgreSQL database holding the campaign
// journal and River's job tables (https://riverqueue.com). The journal
// has one row per file row, with its bill number, the time it was first
// sent and its outcome; River only hands rows to workers. Create writes
// every row's bill number (redpack.NewBillNo) and job in one transaction,
// before anything can be sent.
//
// A worker reads the journal first. A row never sent is marked as sent
// (outcome unknown, first-send time recorded once) in the transaction that
// also counts it towards the daily caps, and only then is its request
// made; so after a crash at any instant a row is either known never sent
// or known possibly sent. A possibly sent row is settled with
// redpack.Client.Settle: a query first, and a re-send of the same request
// under the same bill number only when WeChat has no record, and only
// within redpack.ResendWindow of the row's first send; after that, by query
// alone. Outcomes only ever move up (pending → unknown → paid or not paid).
// No transaction is held across a network call: a worker sends, then opens
// the transaction that records the outcome and completes its job, after
// checking that the job is still its attempt's.
//
// # The money rules
//
// FREQ_LIMIT is never a failure: the row waits and goes again under the
// same bill number. A definite refusal (NOTENOUGH, SENDNUM_LIMIT, …) is
// reported and never re-issued by itself; Reissue gives the rows a
// Selection chooses (by number, every not-paid row, or by err_code) a new
// bill number only when the journal holds a definite not-paid outcome for
// the old one, and ReissueDryRun says which it would. Create refuses a
// file another campaign of the database came from (Spec.FileSHA256),
// which would pay every row twice. WeChat's daily caps (Limits) are counted in the journal: a
// row that would exceed one is held for the next day or reported, never
// sent to collect a refusal.
//
// # Rate
//
// Every request a run makes, retries and queries included, waits on one
// limiter (redpack.WithLimiter). On PostgreSQL it is shared by every
// process through the database (a generic cell rate algorithm in one row,
// on the database's clock) at the merchant's rate stored in that row
// (Store.SetRate; the first run stores its own), so several runs on
// several machines keep to one rate; a run's RunConfig.Rate only paces
// that run lower. On SQLite one run at a time uses a file (a second gets
// a *BusyError) and paces itself. A request whose slot came more than a
// few milliseconds ago (the process stalled) waits for a new one, and a
// window of the process's last requests holds it to the rate in every
// second. DefaultRate sits just under WeChat's 30 requests a second.
//
// # Time limits
//
// River has no heartbeat: a killed worker's job stays running until its
// rescue. Run keeps a job's work inside a time limit derived from
// RunConfig.AttemptTimeout and MaxAttempts, and has River rescue a job
// shortly after it and its journal write, so that a restarted run
// resumes a killed run's rows within a minute or two with the defaults.
// A row claimed by an attempt that may still be sending it is not settled
// until that attempt's time is surely up.
//
// # Operating
//
// List counts every campaign's rows by outcome; OpenExisting opens a
// database for reading without ever creating one; a campaign name that is
// not in the database is a *NotFoundError suggesting the closest.
package campaign
