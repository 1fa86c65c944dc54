# Reference values for longmod's meta-analysis engines (longmod/engines/meta).
# Run: Rscript tests/reference/metafor/metafor.R [folder] [out.json]
# Reads studies.csv, counts.csv, summaries.csv beside it; writes metafor.json.
#  * rma(): REML / DL, z / Knapp-Hartung, I^2, H^2, Q, predict() intervals
#    (REML solved to threshold 1e-12 instead of metafor's default 1e-5);
#  * escalc(): log odds ratios with metafor's default zero-cell correction;
#  * Wan et al. (2014) / Luo et al. (2018) median/IQR/range -> mean/SD, written
#    out from the papers' formulas;
#  * the exact posterior of the Bayesian normal-normal model, by numerical
#    integration over tau (mu | tau is normal): mean/quantiles/P(mu < 0) of mu,
#    quantiles of tau, quantiles/P(< 0) of a new study's effect.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
here <- if (length(args) >= 1) args[1] else dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
out <- if (length(args) >= 2) args[2] else file.path(here, "metafor.json")
md5 <- function(f) unname(tools::md5sum(file.path(here, f)))
st <- read.csv(file.path(here, "studies.csv"), stringsAsFactors = FALSE)
res <- list(inputs = list(md5 = list(studies = md5("studies.csv"), counts = md5("counts.csv"),
                                     summaries = md5("summaries.csv")),
                          metafor = as.character(packageVersion("metafor"))))

rma_ref <- list()
for (s in unique(st$set)) {
  d <- st[st$set == s, ]
  for (method in c("REML", "DL")) for (test in c("z", "knha")) {
    fit <- rma(yi = d$yi, sei = d$sei, method = method, test = test, control = list(threshold = 1e-12, maxiter = 1000))
    p <- predict(fit)
    rma_ref[[paste(s, method, test, sep = "_")]] <- list(
      estimate = as.numeric(fit$beta), se = fit$se, ci_lb = fit$ci.lb, ci_ub = fit$ci.ub, pval = fit$pval,
      tau2 = fit$tau2, I2 = fit$I2, H2 = fit$H2, QE = fit$QE, QEp = fit$QEp, pi_lb = p$pi.lb, pi_ub = p$pi.ub,
      weights = unname(weights(fit)))
  }
}
res$rma <- rma_ref

cn <- read.csv(file.path(here, "counts.csv"), stringsAsFactors = FALSE)
es <- escalc(measure = "OR", ai = cn$ai, n1i = cn$n1i, ci = cn$ci, n2i = cn$n2i)  # add = 1/2, to = "only0", drop00 = FALSE
res$escalc_or <- list(yi = as.numeric(es$yi), vi = as.numeric(es$vi))
es0 <- escalc(measure = "OR", ai = cn$ai, n1i = cn$n1i, ci = cn$ci, n2i = cn$n2i, drop00 = TRUE)
res$escalc_or_drop00 <- list(yi = as.numeric(es0$yi))
md <- escalc(measure = "MD", m1i = 83.3, sd1i = 90, n1i = 10, m2i = 57.6, sd2i = 85, n2i = 10)
res$escalc_md <- list(yi = as.numeric(md$yi), vi = as.numeric(md$vi))

sm <- read.csv(file.path(here, "summaries.csv"))
wan_iqr_sd <- (sm$q3 - sm$q1) / (2 * qnorm((0.75 * sm$n - 0.125) / (sm$n + 0.25)))
wan_iqr_mean <- (sm$q1 + sm$median + sm$q3) / 3
luo_w <- 0.7 + 0.39 / sm$n
luo_mean <- luo_w * (sm$q1 + sm$q3) / 2 + (1 - luo_w) * sm$median
wan_range_mean <- (sm$minimum + 2 * sm$median + sm$maximum) / 4
wan_range_sd <- (sm$maximum - sm$minimum) / (2 * qnorm((sm$n - 0.375) / (sm$n + 0.25)))
res$summaries <- list(wan_iqr_mean = wan_iqr_mean, wan_iqr_sd = wan_iqr_sd, luo_mean = luo_mean,
                      wan_range_mean = wan_range_mean, wan_range_sd = wan_range_sd)

# exact posterior of y_i ~ N(mu + u_i, se_i^2), u_i ~ N(0, tau^2), mu ~ N(m0, s0^2)
exact_posterior <- function(y, se, m0, s0, log_prior_tau, tau_max) {
  tau <- seq(0, tau_max, length.out = 200001)
  W <- 1 / outer(tau^2, se^2, "+")                     # grid x studies
  V <- 1 / (1 / s0^2 + rowSums(W)); M <- V * (m0 / s0^2 + as.vector(W %*% y))
  lp <- 0.5 * rowSums(log(W)) - 0.5 * as.vector(W %*% y^2) + 0.5 * M^2 / V + 0.5 * log(V) + log_prior_tau(tau)
  lp[!is.finite(lp)] <- -Inf
  wts <- exp(lp - max(lp)); wts <- wts / sum(wts)      # uniform grid: weights = normalised density
  mix_cdf <- function(x, extra) sum(wts * pnorm(x, M, sqrt(V + extra)))
  mix_q <- function(p, extra) uniroot(function(x) mix_cdf(x, extra) - p, c(-1e4, 1e4), tol = 1e-12)$root
  cdf_tau <- cumsum(wts)
  q_tau <- function(p) tau[which(cdf_tau >= p)[1]]
  list(mu_mean = sum(wts * M), mu_sd = sqrt(sum(wts * (V + M^2)) - sum(wts * M)^2),
       mu_q = sapply(c(0.025, 0.5, 0.975), mix_q, extra = 0), mu_p_below0 = mix_cdf(0, 0),
       tau_q = sapply(c(0.025, 0.5, 0.975), q_tau), tau_mean = sum(wts * tau),
       new_q = sapply(c(0.025, 0.5, 0.975), mix_q, extra = tau^2), new_p_below0 = mix_cdf(0, tau^2))
}
three <- st[st$set == "three", ]
mm <- st[st$set == "mmhg", ]
res$bayes <- list(
  three_turner_mortality = exact_posterior(three$yi, three$sei, 0, 2.82,
    function(t) dlnorm(t, -3.95 / 2, 1.34 / 2, log = TRUE), 5),
  three_halfnormal = exact_posterior(three$yi, three$sei, 0, 2.82,
    function(t) dnorm(t, 0, 0.5, log = TRUE), 4),
  mmhg_halfnormal = exact_posterior(mm$yi, mm$sei, 0, 100,
    function(t) dnorm(t, 0, 40, log = TRUE), 250))
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE), out)
