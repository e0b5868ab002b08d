// Swift-callable wrappers for libedit's variadic calls and C globals (Swift 6 rejects
// both directly), plus the SIGINT flag the REPL polls.
#ifndef KAIROS_CLIBEDIT_SHIM_H
#define KAIROS_CLIBEDIT_SHIM_H

#include <histedit.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef char *(*kairos_prompt_fn)(EditLine *);
typedef unsigned char (*kairos_command_fn)(EditLine *, int);

static inline EditLine *kairos_el_init(const char *program) {
    return el_init(program, stdin, stdout, stderr);
}
static inline int kairos_el_set_prompt(EditLine *el, kairos_prompt_fn fn) { return el_set(el, EL_PROMPT, fn); }
static inline int kairos_el_set_editor(EditLine *el, const char *mode) { return el_set(el, EL_EDITOR, mode); }
static inline int kairos_el_set_signal(EditLine *el, int on) { return el_set(el, EL_SIGNAL, on); }
static inline int kairos_el_set_clientdata(EditLine *el, void *data) { return el_set(el, EL_CLIENTDATA, data); }
static inline void *kairos_el_get_clientdata(EditLine *el) {
    void *data = NULL;
    el_get(el, EL_CLIENTDATA, &data);
    return data;
}
static inline int kairos_el_addfn(EditLine *el, const char *name, const char *help, kairos_command_fn fn) {
    return el_set(el, EL_ADDFN, name, help, fn);
}
static inline int kairos_el_bind(EditLine *el, const char *key, const char *command) {
    return el_set(el, EL_BIND, key, command, NULL);
}
static inline int kairos_el_set_hist(EditLine *el, History *h) { return el_set(el, EL_HIST, history, h); }

static inline int kairos_history_setsize(History *h, int size) {
    HistEvent ev;
    return history(h, &ev, H_SETSIZE, size);
}
static inline int kairos_history_enter(History *h, const char *line) {
    HistEvent ev;
    return history(h, &ev, H_ENTER, line);
}
static inline int kairos_history_load(History *h, const char *file) {
    HistEvent ev;
    return history(h, &ev, H_LOAD, file);
}
static inline int kairos_history_save(History *h, const char *file) {
    HistEvent ev;
    return history(h, &ev, H_SAVE, file);
}
static inline int kairos_history_clear(History *h) {
    HistEvent ev;
    return history(h, &ev, H_CLEAR);
}
/// Oldest-first iteration: `kairos_history_last` then `kairos_history_prev` (libedit's
/// "first" is the newest entry). Each returns NULL at the end.
static inline const char *kairos_history_last(History *h) {
    HistEvent ev;
    return history(h, &ev, H_LAST) < 0 ? NULL : ev.str;
}
static inline const char *kairos_history_prev(History *h) {
    HistEvent ev;
    return history(h, &ev, H_PREV) < 0 ? NULL : ev.str;
}

static inline FILE *kairos_stdout(void) { return stdout; }

// SIGINT: the handler only records the signal; the REPL polls and clears it. Installed
// without SA_RESTART so a blocking read in el_gets returns and the input can be cleared.
static volatile sig_atomic_t kairos_sigint_flag = 0;
static inline void kairos_sigint_handler(int sig) { (void)sig; kairos_sigint_flag = 1; }
static inline int kairos_install_sigint(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = kairos_sigint_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    // A parent may have started us with SIGINT blocked (the mask survives exec): unblock it.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return sigaction(SIGINT, &sa, NULL);
}
static inline int kairos_sigint_pending(void) { return kairos_sigint_flag != 0; }
static inline void kairos_sigint_clear(void) { kairos_sigint_flag = 0; }

#endif
