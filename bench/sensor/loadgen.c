// SPDX-License-Identifier: Apache-2.0
/*
 * Load generator for the sensor benchmarks (compiled by bench/sensor/loadgen.ts with the system cc).
 *
 *   loadgen exec RATE SECONDS           posix_spawn /bin/true at RATE per second (paced every 1 ms)
 *   loadgen open THREADS SECONDS PATH   THREADS threads open+close PATH as fast as they can
 *   loadgen open-rate RATE SECONDS PATH open+close PATH at RATE per second (paced every 1 ms)
 *
 * Prints one JSON line: {"mode":..., "ops":N, "seconds":S, "cpu":C} (C = CPU seconds used, user + system). A C program rather than node so the generator's own
 * cost is small and steady, and the numbers measure the kernel + sensor, not the generator.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	struct timespec ts = { .tv_sec = (time_t)t, .tv_nsec = (long)((t - (time_t)t) * 1e9) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* CPU seconds (user + system) this process has used: the BPF programs run in the context of the thread that
 * made the syscall, so their cost (and the tracepoint machinery's) shows up here, unlike wall-clock rates this
 * does not move when another workload steals the CPU. */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static long reap(int block)
{
	long n = 0;

	while (waitpid(-1, NULL, block ? 0 : WNOHANG) > 0)
		n++;
	return n;
}

static int run_exec(double rate, double seconds)
{
	double start = now_s(), next = start;
	long done = 0, target;
	char *argv[] = { "true", NULL };
	char *envp[] = { NULL };

	while (now_s() - start < seconds) {
		next += 0.001;
		target = (long)((next - start) * rate);
		while (done < target) {
			pid_t pid;

			/* posix_spawn (vfork + exec in glibc): the cheapest way to start a process, so the
			 * generator can reach the rate on a small machine */
			if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, envp) != 0) {
				reap(1);
				continue;
			}
			done++;
		}
		reap(0);
		sleep_until(next);
	}
	reap(1);
	printf("{\"mode\":\"exec\",\"ops\":%ld,\"seconds\":%.3f,\"cpu\":%.4f}\n", done, now_s() - start, cpu_s());
	return 0;
}

struct open_arg {
	const char *path;
	double seconds;
	long ops;
};

static void *open_loop(void *p)
{
	struct open_arg *a = p;
	double start = now_s();
	long n = 0;

	while (1) {
		for (int i = 0; i < 1000; i++) {
			int fd = open(a->path, O_RDONLY);

			if (fd >= 0)
				close(fd);
			n++;
		}
		if (now_s() - start >= a->seconds)
			break;
	}
	a->ops = n;
	return NULL;
}

static int run_open(int threads, double seconds, const char *path)
{
	pthread_t t[64];
	struct open_arg a[64];
	double start = now_s();
	long total = 0;

	if (threads < 1 || threads > 64)
		return 2;
	for (int i = 0; i < threads; i++) {
		a[i] = (struct open_arg){ .path = path, .seconds = seconds };
		pthread_create(&t[i], NULL, open_loop, &a[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		total += a[i].ops;
	}
	printf("{\"mode\":\"open\",\"ops\":%ld,\"seconds\":%.3f,\"cpu\":%.4f}\n", total, now_s() - start, cpu_s());
	return 0;
}

static int run_open_rate(double rate, double seconds, const char *path)
{
	double start = now_s(), next = start;
	long done = 0, target;

	while (now_s() - start < seconds) {
		next += 0.001;
		target = (long)((next - start) * rate);
		while (done < target) {
			int fd = open(path, O_RDONLY);

			if (fd >= 0)
				close(fd);
			done++;
		}
		sleep_until(next);
	}
	printf("{\"mode\":\"open-rate\",\"ops\":%ld,\"seconds\":%.3f,\"cpu\":%.4f}\n", done, now_s() - start, cpu_s());
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "exec"))
		return run_exec(atof(argv[2]), atof(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "open"))
		return run_open(atoi(argv[2]), atof(argv[3]), argv[4]);
	if (argc == 5 && !strcmp(argv[1], "open-rate"))
		return run_open_rate(atof(argv[2]), atof(argv[3]), argv[4]);
	fprintf(stderr, "usage: loadgen exec RATE SECONDS | open THREADS SECONDS PATH | open-rate RATE SECONDS PATH\n");
	return 2;
}
