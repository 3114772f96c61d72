/* SPDX-License-Identifier: MIT */
/*
 * util/fileio.c: write_file_atomic() replaces a file with exactly the mode asked, leaves
 * no temporary file behind, and cannot be steered by a name planted in the directory
 * beforehand (the old predictable "PATH.tmp.PID" followed or truncated what was there);
 * the O_EXCL fallback (file systems without O_TMPFILE) does the same. check_private_dir()
 * refuses a directory owned by someone else or writable by group or others.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"
#include "tap.h"

static char dir[] = "/tmp/mlbd-test-fileio-XXXXXX";

static size_t entries(void)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        while (d && (de = readdir(d)))
                n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
        if (d)
                closedir(d);
        return n;
}

static bool has(const char *path, const char *want)
{
        char *buf = NULL;
        size_t len = 0;
        bool r = read_full_file(path, &buf, &len) == 0 && len == strlen(want) &&
                 memcmp(buf, want, len) == 0;

        free(buf);
        return r;
}

static int put(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        if (!f)
                return -1;
        fputs(text, f);
        return fclose(f);
}

static bool is_symlink(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

static mode_t mode_of(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

static void test_write(const char *what,
                       int (*write_fn)(const char *, const void *, size_t, mode_t))
{
        char path[256], victim[256], planted[256];

        snprintf(path, sizeof(path), "%s/file", dir);
        snprintf(victim, sizeof(victim), "%s/victim", dir);
        snprintf(planted, sizeof(planted), "%s/file.tmp.%d", dir, (int)getpid());
        (void)unlink(path);

        is_int(write_fn(path, "one\n", 4, 0600), 0, "%s: new file written", what);
        ok(has(path, "one\n") && mode_of(path) == 0600, "%s: contents and mode 0600", what);
        is_int(write_fn(path, "two\n", 4, 0644), 0, "%s: replaced", what);
        ok(has(path, "two\n") && mode_of(path) == 0644, "%s: new contents and mode 0644", what);
        is_int(entries(), 1, "%s: no temporary file left", what);

        /* Names planted where the old code wrote its temporary file: a symlink to a file
         * the attacker wants overwritten, then a file the attacker keeps open. */
        ok(put(victim, "victim\n") == 0 && symlink(victim, planted) == 0,
           "%s: planted %s -> victim", what, planted);
        is_int(write_fn(path, "three\n", 6, 0600), 0, "%s: written despite the planted symlink",
               what);
        ok(has(path, "three\n") && has(victim, "victim\n"),
           "%s: the file has the new contents, the victim is untouched", what);
        ok(is_symlink(planted), "%s: the planted symlink is still there", what);
        (void)unlink(planted);
        (void)unlink(victim);

        char missing[300];
        snprintf(missing, sizeof(missing), "%s/no-such-dir/file", dir);
        is_int(write_fn(missing, "x", 1, 0600), -ENOENT, "%s: a missing directory: -ENOENT", what);
        is_int(entries(), 1, "%s: still only the file", what);
}

static int write_excl(const char *path, const void *buf, size_t len, mode_t mode)
{
        return write_file_atomic_full(path, buf, len, mode, WRITE_FILE_NO_TMPFILE);
}

static void test_private_dir(void)
{
        char sub[300], file[300];

        snprintf(sub, sizeof(sub), "%s/state", dir);
        snprintf(file, sizeof(file), "%s/file", dir);
        ok(mkdir(sub, 0750) == 0, "state dir made, mode 0750");
        is_int(check_private_dir(sub, geteuid(), NULL), 0, "0750, ours: fine");
        ok(chmod(sub, 0770) == 0, "chmod 0770");
        is_int(check_private_dir(sub, geteuid(), NULL), -EACCES, "group writable: -EACCES");
        ok(chmod(sub, 01777) == 0, "chmod 1777");
        is_int(check_private_dir(sub, geteuid(), NULL), -EACCES,
               "world writable (sticky): -EACCES");
        ok(chmod(sub, 0755) == 0, "chmod 0755");
        is_int(check_private_dir(sub, geteuid(), NULL), 0, "0755, ours: fine");
        if (geteuid() == 0) {
                ok(chown(sub, 4242, 4242) == 0, "chown 4242");
                is_int(check_private_dir(sub, 0, NULL), -EPERM,
                       "owned by uid 4242, we are root: -EPERM");
                is_int(check_private_dir(sub, 4242, NULL), 0,
                       "owned by uid 4242, we are 4242: fine");
                ok(chown(sub, 0, 0) == 0, "chown root");
                is_int(check_private_dir(sub, 4242, NULL), 0, "owned by root, we are 4242: fine");
        } else
                diag_note("not root: the owner checks are left out");
        is_int(check_private_dir(file, geteuid(), NULL), -ENOTDIR, "a file: -ENOTDIR");
        (void)rmdir(sub);
        snprintf(sub, sizeof(sub), "%s/missing", dir);
        is_int(check_private_dir(sub, geteuid(), NULL), -ENOENT, "missing: -ENOENT");
}

int main(void)
{
        char file[300];

        if (!mkdtemp(dir))
                return 99;
        umask(022);
        test_write("write_file_atomic", write_file_atomic);
        test_write("O_EXCL fallback", write_excl);
        test_private_dir();
        snprintf(file, sizeof(file), "%s/file", dir);
        (void)unlink(file);
        ok(rmdir(dir) == 0, "nothing left in %s", dir);
        return tap_done();
}
