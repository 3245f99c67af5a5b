package templates

import (
	"fmt"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// vipOutputs are the files a node of a cluster with a virtual IP receives.
var vipOutputs = []output{
	{file: mustFile(layout.KeepalivedConfig), template: "keepalived.conf.tmpl", secret: true, when: vipOn},
	{file: mustFile(layout.VIPCheck), template: "vip-check.tmpl", when: vipOn},
	{file: mustFile(layout.VIPSysctl), template: "vip-sysctl.conf.tmpl", when: vipOn},
}

func init() { outputs = append(outputs, vipOutputs...) }

func vipOn(v *view) bool { return v.VIP != nil }

// VIP timings (docs/design.md, "The virtual IP"). VRRP advertisements every
// second: a backup takes over 3 advertisements plus a skew (3.6 s) after the
// holder goes silent. The check runs every second; three failures in a row
// (fall) lower the node's priority below every healthy member's, which then
// takes the address at its next advertisement; two successes (rise) restore
// it. A run gets 3 s: on a loaded host (the end-to-end test's) a 2 s limit
// timed out healthy checks and moved the address between healthy nodes.
// Every member has the same priority: a recovered node never takes the
// address back (equal priority does not preempt), so it moves only when it
// must. A second check, of the other members' etcd peer ports, puts a node
// that reaches none of them in FAULT after two failures (about 2 s), before
// the others take the address over (3.6 s): cut off, it no longer holds it,
// and when it comes back it is not in BACKUP until two runs pass, by which
// time it hears the new holder.
const (
	vipAdvertInt     = 1
	vipPriority      = 100
	vipCheckWeight   = -50
	vipCheckInterval = 1
	vipCheckTimeout  = 3
	vipCheckFall     = 3
	vipCheckRise     = 2
	vipPeersFall     = 2
)

// vipView is what keepalived.conf, the check script and the other templates
// need of the virtual IP.
type vipView struct {
	cluster.VIP
	Interface string   // this node's
	Peers     []string // the other members' addresses, for unicast VRRP
	AuthPass  string   // the VRRP password (8 characters)
	Leader    bool     // mode leader: held by the Patroni leader
	// Keepalived 1.x (EL7) and 2.x read the same file here; Version says
	// which one the node runs, for the header.
	Version                                      string
	AdvertInt, Priority, Weight                  int
	CheckInterval, CheckTimeout, Fall, Rise      int
	PeersFall                                    int
	CheckPath, SysctlPath, StatsURL, PGPortCheck string
}

// newVIPView derives the virtual IP's view for node self; nil without a vip
// section.
func newVIPView(spec *cluster.Spec, self cluster.Node, comp rpm.Components, sec *secrets.Secrets) (*vipView, error) {
	if spec.VIP == nil {
		return nil, nil
	}
	if comp.Keepalived == nil {
		return nil, rpm.NeedKeepalived(spec.Cluster.OS)
	}
	if sec.VRRPPassword == "" {
		return nil, fmt.Errorf("render %s: the secrets file holds no vrrp_password: run pgha-bundle build, which generates it", self.Name)
	}
	v := &vipView{
		VIP:       *spec.VIP,
		Interface: spec.VIPInterface(self),
		AuthPass:  sec.VRRPAuthPass(),
		Leader:    spec.VIP.Mode == cluster.VIPModeLeader,
		Version:   comp.Keepalived.Version,
		AdvertInt: vipAdvertInt, Priority: vipPriority, Weight: vipCheckWeight,
		CheckInterval: vipCheckInterval, CheckTimeout: vipCheckTimeout, Fall: vipCheckFall, Rise: vipCheckRise,
		PeersFall: vipPeersFall,
		CheckPath: layout.VIPCheck, SysctlPath: layout.VIPSysctl,
		StatsURL: "http://" + hostPort(self.Address, spec.Ports.HAProxyStats) + "/;csv",
	}
	if v.Leader {
		// Only the leader may hold the address: a failing check puts the
		// instance in FAULT (weight 0), so a replica never holds it, not
		// even while no member leads. With a weight, a replica that took
		// the address during a failover kept it until the new leader's
		// higher priority preempted it, and both held it for a moment.
		v.Weight = 0
	}
	for _, n := range spec.Nodes {
		if n.Name != self.Name {
			v.Peers = append(v.Peers, n.Address)
		}
	}
	return v, nil
}
