# Reference values for longmod's survival engines (longmod/engines/survival).
# Run: Rscript tests/reference/survival/survival.R [folder-with-csvs] [out.json]
# Reads two_arm.csv, matched.csv, matched_zero.csv (written by make_data.py)
# and writes survival.json beside itself (or to out.json).
suppressPackageStartupMessages({library(survival); library(cmprsk); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
here <- if (length(args) >= 1) args[1] else dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
out <- if (length(args) >= 2) args[2] else file.path(here, "survival.json")
md5 <- function(f) unname(tools::md5sum(file.path(here, f)))

a <- read.csv(file.path(here, "two_arm.csv"), stringsAsFactors = FALSE)
a$arm <- factor(a$arm, levels = c("control", "active"))
res <- list(inputs = list(md5 = list(two_arm = md5("two_arm.csv"), matched = md5("matched.csv"),
                                     matched_zero = md5("matched_zero.csv")),
                          R = R.version.string, survival = as.character(packageVersion("survival")),
                          cmprsk = as.character(packageVersion("cmprsk"))))

# --- Kaplan-Meier per arm (event of interest; competing events censored) ---
km <- list()
for (g in levels(a$arm)) {
  f <- survfit(Surv(time, event1) ~ 1, data = a[a$arm == g, ])  # conf.type = "log" (default)
  tab <- summary(f)$table
  rm <- survival:::survmean(f, rmean = 21)$matrix
  nr <- summary(f, times = c(0, 7, 14, 21, 28), extend = TRUE)
  s10 <- summary(f, times = c(0, 5, 10, 15))
  km[[g]] <- list(time = f$time, n_risk = f$n.risk, surv = f$surv, std_err = f$std.err,
                  lower = f$lower, upper = f$upper,
                  median = unname(tab["median"]), median_low = unname(tab["0.95LCL"]),
                  median_high = unname(tab["0.95UCL"]),
                  rmean21 = unname(rm["rmean"]), rmean21_se = unname(rm["se(rmean)"]),
                  at_risk_times = nr$time, at_risk = nr$n.risk,
                  surv_times = s10$time, surv_at = s10$surv, surv_at_se = s10$std.err / s10$surv,
                  surv_at_lower = s10$lower, surv_at_upper = s10$upper)
}
res$km <- km
# a curve that sits exactly on 0.5 (median = midpoint) and one whose lower limit never reaches 0.5
f <- survfit(Surv(c(3, 7, 14, 14, 21, 28), c(1, 1, 1, 0, 1, 0)) ~ 1)
res$km_tie <- list(median = unname(summary(f)$table["median"]), low = unname(summary(f)$table["0.95LCL"]),
                   high = unname(summary(f)$table["0.95UCL"]))

# --- log-rank family ---
sd0 <- survdiff(Surv(time, event1) ~ arm, data = a, rho = 0)
sd1 <- survdiff(Surv(time, event1) ~ arm, data = a, rho = 1)
sds <- survdiff(Surv(time, event1) ~ arm + strata(site), data = a)
sds1 <- survdiff(Surv(time, event1) ~ arm + strata(site), data = a, rho = 1)
# Gehan-Breslow (weight n at risk) and Tarone-Ware (sqrt n at risk), written out from their definition
weighted_lr <- function(time, event, grp, w_fun) {
  ut <- sort(unique(time[event == 1])); U <- 0; V <- 0
  for (u in ut) {
    r <- time >= u; n <- sum(r); n1 <- sum(r & grp == 1)
    d <- sum(time == u & event == 1); d1 <- sum(time == u & event == 1 & grp == 1)
    w <- w_fun(n)
    U <- U + w * (d1 - d * n1 / n)
    if (n > 1) V <- V + w^2 * d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
  }
  chisq <- U^2 / V
  list(chisq = chisq, p = pchisq(chisq, 1, lower.tail = FALSE))
}
grp <- as.integer(a$arm == "active")
res$logrank <- list(
  logrank = list(chisq = sd0$chisq, p = pchisq(sd0$chisq, 1, lower.tail = FALSE), obs = sd0$obs),
  peto = list(chisq = sd1$chisq, p = pchisq(sd1$chisq, 1, lower.tail = FALSE)),
  stratified_logrank = list(chisq = sds$chisq, p = pchisq(sds$chisq, 1, lower.tail = FALSE)),
  stratified_peto = list(chisq = sds1$chisq, p = pchisq(sds1$chisq, 1, lower.tail = FALSE)),
  gehan = weighted_lr(a$time, a$event1, grp, function(n) n),
  tarone_ware = weighted_lr(a$time, a$event1, grp, function(n) sqrt(n)))

# --- Cox (Efron ties) ---
cox_summ <- function(fit) {
  s <- summary(fit)
  list(coef = unname(coef(fit)), se = unname(sqrt(diag(vcov(fit)))), p = unname(s$coefficients[, "Pr(>|z|)"]),
       low = unname(log(s$conf.int[, "lower .95"])), high = unname(log(s$conf.int[, "upper .95"])),
       loglik = fit$loglik, p_lrt = unname(s$logtest["pvalue"]), p_score = unname(s$sctest["pvalue"]))
}
res$cox <- list(
  plain = cox_summ(coxph(Surv(time, event1) ~ arm, data = a, ties = "efron")),
  adjusted = cox_summ(coxph(Surv(time, event1) ~ arm + age, data = a, ties = "efron")),
  stratified = cox_summ(coxph(Surv(time, event1) ~ arm + strata(site), data = a, ties = "efron")),
  cause2 = cox_summ(coxph(Surv(time, code == 2) ~ arm, data = a, ties = "efron")))

# --- competing risks: cmprsk::cuminc and survfit's Aalen-Johansen ---
ci <- cuminc(a$time, a$code, group = a$arm, cencode = 0)
tp <- timepoints(ci, c(7, 14, 21, 28))
ms <- survfit(Surv(time, factor(code, 0:2)) ~ arm, data = a)
ms_sum <- summary(ms, times = c(7, 14, 21, 28))
res$cuminc <- list(times = c(7, 14, 21, 28),
                   control_1 = list(est = unname(tp$est["control 1", ]), var = unname(tp$var["control 1", ])),
                   active_1 = list(est = unname(tp$est["active 1", ]), var = unname(tp$var["active 1", ])),
                   control_2 = list(est = unname(tp$est["control 2", ]), var = unname(tp$var["control 2", ])),
                   active_2 = list(est = unname(tp$est["active 2", ]), var = unname(tp$var["active 2", ])),
                   survfit_pstate_1 = unname(ms_sum$pstate[, 2]), survfit_strata = as.character(ms_sum$strata))

# Fine-Gray on the administratively censored variant (censored patients followed to day 28)
adm <- a; adm$time[adm$code == 0] <- 28
fg <- crr(adm$time, adm$code, cov1 = as.integer(adm$arm == "active"), failcode = 1, cencode = 0)
res$fine_gray_admin <- list(coef = unname(fg$coef), se = unname(sqrt(diag(fg$var))), loglik = fg$loglik)
# Fine-Gray with censoring before day 28 (inverse-probability-of-censoring weights), arm alone and arm + age
fg <- crr(a$time, a$code, cov1 = as.integer(a$arm == "active"), failcode = 1, cencode = 0)
res$fine_gray <- list(coef = unname(fg$coef), se = unname(sqrt(diag(fg$var))), loglik = fg$loglik)
fg <- crr(a$time, a$code, cov1 = cbind(as.integer(a$arm == "active"), a$age), failcode = 1, cencode = 0)
res$fine_gray_age <- list(coef = unname(fg$coef), se = unname(sqrt(diag(fg$var))), loglik = fg$loglik)

# --- matched sets: clogit (exact), exact conditional test, stratified log-rank / Cox ---
matched_ref <- function(file) {
  m <- read.csv(file.path(here, file), stringsAsFactors = FALSE)
  m$treated <- as.integer(m$arm == "msc")
  out <- list()
  for (y in c("dead28", "dead")) {
    fit <- suppressWarnings(clogit(as.formula(paste(y, "~ treated + strata(set)")), data = m))  # method = "exact"
    s <- summary(fit)
    mh <- mantelhaen.test(factor(m[[y]], 0:1), factor(m$treated, 0:1), factor(m$set), exact = TRUE)
    out[[y]] <- list(clogit = list(coef = unname(coef(fit)), se = unname(sqrt(diag(vcov(fit)))),
                                   p = unname(s$coefficients[, "Pr(>|z|)"]), loglik = fit$loglik,
                                   p_lrt = unname(s$logtest["pvalue"]), p_score = unname(s$sctest["pvalue"])),
                     exact = list(estimate = unname(log(mh$estimate)), low = log(mh$conf.int[1]),
                                  high = log(mh$conf.int[2]), p = mh$p.value))
  }
  st <- survdiff(Surv(time, dead) ~ arm + strata(set), data = m)
  cx <- suppressWarnings(coxph(Surv(time, dead) ~ treated + strata(set), data = m))
  out$stratified_logrank <- list(chisq = st$chisq, p = pchisq(st$chisq, 1, lower.tail = FALSE))
  out$stratified_cox <- cox_summ(cx)
  out$logrank <- {x <- survdiff(Surv(time, dead) ~ arm, data = m); list(chisq = x$chisq, p = pchisq(x$chisq, 1, lower.tail = FALSE))}
  out
}
res$matched <- matched_ref("matched.csv")
res$matched_zero <- matched_ref("matched_zero.csv")
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE), out)
