package recommend

import (
	"math"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// redisHeadroom is the share of a Redis container's memory limit that
// maxmemory may take: the rest is for the fork of a BGSAVE or AOF rewrite
// and the allocator, as k8s/performance's Redis leaves (768mb of 1Gi).
// Below it, a full Redis is OOM-killed instead of refusing writes.
const redisHeadroom = 0.75

var redisSize = regexp.MustCompile(`(?i)^([0-9]+)(b|k|kb|m|mb|g|gb)?$`)

// redisMaxmemory returns the bytes of a container's `--maxmemory` argument
// (Redis units: k=1000, kb=1024, m=1e6, mb=1Mi, g=1e9, gb=1Gi), if any.
func redisMaxmemory(c *corev1.Container) (float64, bool) {
	args := append(append([]string(nil), c.Command...), c.Args...)
	for i, a := range args {
		val, ok := "", false
		if v, found := strings.CutPrefix(a, "--maxmemory="); found {
			val, ok = v, true
		} else if a == "--maxmemory" && i+1 < len(args) {
			val, ok = args[i+1], true
		}
		if !ok {
			continue
		}
		m := redisSize.FindStringSubmatch(strings.Trim(val, `"'`))
		if m == nil {
			return 0, false
		}
		n, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0, false
		}
		mult := map[string]float64{"": 1, "b": 1, "k": 1e3, "kb": 1 << 10, "m": 1e6, "mb": 1 << 20, "g": 1e9, "gb": 1 << 30}[strings.ToLower(m[2])]
		return n * mult, true
	}
	return 0, false
}

// memoryLimitFloor is the smallest memory limit (bytes, whole Mi) the
// container's own configuration allows, 0 when it sets none.
func memoryLimitFloor(c *corev1.Container) int64 {
	if mm, ok := redisMaxmemory(c); ok {
		return int64(math.Ceil(mm/redisHeadroom/(1<<20)-1e-9)) << 20
	}
	return 0
}
