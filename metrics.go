package bulwark

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/network"
)

// networkCollector exports a replica host's network counters, read at
// scrape time.
type networkCollector struct {
	host                                           *network.ReplicaHost
	sent, received, dropped, connected, clientStrm *prometheus.Desc
	budget, budgetLimit, budgetWaits               *prometheus.Desc
	connsAdmitted, connsRefused                    *prometheus.Desc
}

func newNetworkCollector(host *network.ReplicaHost, replica uint32) *networkCollector {
	labels := prometheus.Labels{"replica": strconv.FormatUint(uint64(replica), 10)}
	desc := func(name, help string, vars ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("bulwark", "network", name), help, vars, labels)
	}
	return &networkCollector{
		host:          host,
		sent:          desc("frames_sent_total", "Frames written to streams."),
		received:      desc("messages_received_total", "Messages delivered to the replica."),
		dropped:       desc("messages_dropped_total", "Messages the network layer dropped, by reason.", "reason"),
		connected:     desc("connected_peers", "Replicas with an open outbound stream."),
		clientStrm:    desc("client_streams", "Open client streams."),
		budget:        desc("frame_budget_bytes", "Bytes of inbound frames held (being read or awaiting the replica), by pool.", "pool"),
		budgetLimit:   desc("frame_budget_limit_bytes", "The inbound frame budget, by pool.", "pool"),
		budgetWaits:   desc("frame_budget_waits_total", "Frames that had to wait for budget."),
		connsAdmitted: desc("connections_admitted_total", "Inbound connections the resource manager's limits let in."),
		connsRefused:  desc("connections_refused_total", "Inbound connections refused by a limit (rate, per address, in all)."),
	}
}

func (c *networkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sent
	ch <- c.received
	ch <- c.dropped
	ch <- c.connected
	ch <- c.clientStrm
	ch <- c.budget
	ch <- c.budgetLimit
	ch <- c.budgetWaits
	ch <- c.connsAdmitted
	ch <- c.connsRefused
}

func (c *networkCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.host.Stats()
	ch <- prometheus.MustNewConstMetric(c.sent, prometheus.CounterValue, float64(s.Sent))
	ch <- prometheus.MustNewConstMetric(c.received, prometheus.CounterValue, float64(s.Received))
	for reason, n := range s.Dropped {
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(n), string(reason))
	}
	ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, float64(len(s.Connected)))
	ch <- prometheus.MustNewConstMetric(c.clientStrm, prometheus.GaugeValue, float64(s.ClientStreams))
	b := s.FrameBudget
	ch <- prometheus.MustNewConstMetric(c.budget, prometheus.GaugeValue, float64(b.ReplicaBytes), "replicas")
	ch <- prometheus.MustNewConstMetric(c.budget, prometheus.GaugeValue, float64(b.ClientBytes), "clients")
	ch <- prometheus.MustNewConstMetric(c.budgetLimit, prometheus.GaugeValue, float64(b.ReplicaLimit), "replicas")
	ch <- prometheus.MustNewConstMetric(c.budgetLimit, prometheus.GaugeValue, float64(b.ClientLimit), "clients")
	ch <- prometheus.MustNewConstMetric(c.budgetWaits, prometheus.CounterValue, float64(b.Waits))
	ch <- prometheus.MustNewConstMetric(c.connsAdmitted, prometheus.CounterValue, float64(s.ConnectionsAdmitted))
	ch <- prometheus.MustNewConstMetric(c.connsRefused, prometheus.CounterValue, float64(s.ConnectionsRefused))
}

// cryptoCollector exports the process's signature counts (crypto.Counts):
// the benchmark harness reads them off replica processes.
type cryptoCollector struct{ signed, verified *prometheus.Desc }

func newCryptoCollector() *cryptoCollector {
	return &cryptoCollector{
		signed:   prometheus.NewDesc("bulwark_crypto_signatures_total", "Ed25519 signatures made by this process.", nil, nil),
		verified: prometheus.NewDesc("bulwark_crypto_verifications_total", "Ed25519 signatures verified by this process.", nil, nil),
	}
}

func (c *cryptoCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.signed
	ch <- c.verified
}

func (c *cryptoCollector) Collect(ch chan<- prometheus.Metric) {
	s, v := crypto.Counts()
	ch <- prometheus.MustNewConstMetric(c.signed, prometheus.CounterValue, float64(s))
	ch <- prometheus.MustNewConstMetric(c.verified, prometheus.CounterValue, float64(v))
}
