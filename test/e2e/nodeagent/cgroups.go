//go:build e2e

package nodeagent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/cgroups/v3/cgroup1"
	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Resource enforcement: every run of a container gets a cgroup v1 of its
// own in the memory, cpu and cpuacct hierarchies (mounted separately under
// /sys/fs/cgroup here), with the kubelet's settings (containerResources),
// so the kernel's OOM killer and CFS throttling act on the pods' limits,
// and the resource metrics come from the cgroups as cAdvisor reads them.
//
// The cgroups nest under the agent's own cgroup in each hierarchy (as a
// runtime inside a container does), so whatever limits the test process
// are limits on its pods too:
//
//	<agent's cgroup>/voiceassist-e2e-<agent pid>/<node name>/<pod UID>/<container>-<run>
//
// The pid keeps parallel clusters apart, the node name the agents of one
// process; Stop removes the agent's tree,
// and Start removes those of agents that no longer run (a SIGKILLed test),
// as cluster.CleanStale does for network namespaces.

const (
	cgroupRoot   = "/sys/fs/cgroup"
	cgroupPrefix = "voiceassist-e2e-"
)

// cgroupControllers are the hierarchies the agent uses.
var cgroupControllers = []cgroup1.Name{cgroup1.Memory, cgroup1.Cpu, cgroup1.Cpuacct}

func cgroupHierarchy() ([]cgroup1.Subsystem, error) {
	return []cgroup1.Subsystem{cgroup1.NewMemory(cgroupRoot), cgroup1.NewCpu(cgroupRoot), cgroup1.NewCpuacct(cgroupRoot)}, nil
}

// cgroups places an agent's containers.
type cgroups struct {
	parent string // voiceassist-e2e-<pid>, shared by the process's agents
	node   string // the agent's own subtree
	own    map[cgroup1.Name]string
}

// newCgroups checks that the three v1 hierarchies are mounted and writable
// (creating and removing the agent's parent cgroup in each) and removes
// the cgroups dead agents left.
func newCgroups(node string, logf func(string, ...any)) (*cgroups, error) {
	own, err := cgroup1.ParseCgroupFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	m := &cgroups{parent: cgroupPrefix + strconv.Itoa(os.Getpid()), node: node, own: map[cgroup1.Name]string{}}
	for _, n := range cgroupControllers {
		p, ok := own[string(n)]
		if !ok {
			return nil, fmt.Errorf("cgroup v1 controller %s: not in /proc/self/cgroup (the agent needs the v1 memory, cpu and cpuacct hierarchies under %s; Agent.NoCgroups runs without limits)", n, cgroupRoot)
		}
		m.own[n] = p
		dir := filepath.Join(cgroupRoot, string(n), p)
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
			return nil, fmt.Errorf("cgroup v1 controller %s: %w (Agent.NoCgroups runs without limits)", n, err)
		}
		stale, _ := filepath.Glob(filepath.Join(dir, cgroupPrefix+"*"))
		for _, s := range stale {
			pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(s), cgroupPrefix))
			if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
				continue
			}
			if err := removeCgroupTree(s); err != nil {
				logf("nodeagent: stale cgroup %s: %v", s, err)
			} else {
				logf("nodeagent: removed stale cgroup %s (agent %d no longer runs)", s, pid)
			}
		}
		if err := os.MkdirAll(filepath.Join(dir, m.parent, m.node), 0o755); err != nil {
			return nil, fmt.Errorf("cgroup v1 controller %s: %w (Agent.NoCgroups runs without limits)", n, err)
		}
	}
	return m, nil
}

// dir is a directory of the agent's tree in hierarchy n.
func (m *cgroups) dir(n cgroup1.Name, rel ...string) string {
	return filepath.Join(append([]string{cgroupRoot, string(n), m.own[n], m.parent, m.node}, rel...)...)
}

// create makes the cgroup of one run of a container with the kubelet's
// settings for it.
func (m *cgroups) create(podUID, container string, run int, res *specs.LinuxResources) (*ctrCgroup, error) {
	rel := filepath.Join(m.parent, m.node, podUID, container+"-"+strconv.Itoa(run))
	cg, err := cgroup1.New(cgroup1.NestedPath(rel), res, cgroup1.WithHierarchy(cgroupHierarchy))
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", rel, err)
	}
	return &ctrCgroup{cg: cg, rel: rel, quota: res.CPU != nil && res.CPU.Quota != nil}, nil
}

// removePod removes a pod's (now empty) cgroup directory.
func (m *cgroups) removePod(podUID string) {
	for _, n := range cgroupControllers {
		removeCgroupTree(m.dir(n, podUID))
	}
}

// remove removes the agent's whole tree, killing what is left in it, and
// the process's parent once no other agent's tree is in it.
func (m *cgroups) remove() error {
	var errs []error
	for _, n := range cgroupControllers {
		if err := removeCgroupTree(m.dir(n)); err != nil {
			errs = append(errs, err)
		}
		syscall.Rmdir(filepath.Dir(m.dir(n))) // EBUSY while another agent of this process runs
	}
	return errors.Join(errs...)
}

// removeCgroupTree kills the processes left in a cgroup and its
// descendants and removes them, deepest first (cgroupfs directories are
// removed with rmdir, their files go with them).
func removeCgroupTree(dir string) error {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var errs []error
	for _, d := range dirs {
		killCgroupProcs(d)
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

func killCgroupProcs(dir string) {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// ctrCgroup is the cgroup of one run of a container.
type ctrCgroup struct {
	cg    cgroup1.Cgroup
	rel   string // under the agent's cgroup
	quota bool   // a CFS quota is set (a CPU limit)
}

// add moves a process (with its threads) into the cgroup in every
// hierarchy.
func (c *ctrCgroup) add(pid int) error {
	if err := c.cg.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("cgroup %s: add pid %d: %w", c.rel, pid, err)
	}
	return nil
}

// stats reads memory, cpu and cpuacct.
func (c *ctrCgroup) stats() (*v1.Metrics, error) {
	return c.cg.Stat(cgroup1.IgnoreNotExist)
}

// oomKills is the memory cgroup's count of processes the OOM killer
// killed in it (memory.oom_control's oom_kill).
func (c *ctrCgroup) oomKills() uint64 {
	s, err := c.stats()
	if err != nil || s.MemoryOomControl == nil {
		return 0
	}
	return s.MemoryOomControl.OomKill
}

// destroy kills what is left in the cgroup (a process the container
// started in another process group) and removes it.
func (c *ctrCgroup) destroy() error {
	for _, n := range cgroupControllers {
		procs, _ := c.cg.Processes(n, true)
		for _, p := range procs {
			syscall.Kill(p.Pid, syscall.SIGKILL)
		}
	}
	return c.cg.Delete()
}

// workingSet is cAdvisor's container_memory_working_set_bytes: usage less
// the inactive file cache (what the kernel reclaims before it OOM-kills).
func workingSet(s *v1.Metrics) uint64 {
	if s.Memory == nil || s.Memory.Usage == nil {
		return 0
	}
	u, inactive := s.Memory.Usage.Usage, s.Memory.TotalInactiveFile
	if u < inactive {
		return 0
	}
	return u - inactive
}
