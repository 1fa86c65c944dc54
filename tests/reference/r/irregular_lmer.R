# Reference for the native core's per-subject (Woodbury) random-effects path at irregular
# times: lme4/lmerTest (Satterthwaite), pbkrtest (Kenward-Roger) and emmeans (act - ctl at the
# mean time), random intercept and random intercept + slope, REML and ML, on irregular_lmm.csv
# (written by make_irregular_lmm.py). Writes irregular_lmer.json beside this script.
#   Rscript tests/reference/r/irregular_lmer.R
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])), "_common.R"))
suppressPackageStartupMessages({library(lmerTest); library(emmeans); library(pbkrtest)})
emm_options(pbkrtest.limit = 1e6, lmerTest.limit = 1e6)  # never fall back to asymptotic df
d <- read.csv(file.path(script_dir(), "irregular_lmm.csv"), stringsAsFactors = FALSE)
d$arm <- factor(d$arm, levels = c("ctl", "act"))
d$pid <- factor(d$pid)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5))
one <- function(re, reml) {
  f <- lmer(as.formula(paste("y ~ base + arm * time +", re)), data = d, REML = reml, control = ctrl)
  vc <- as.data.frame(VarCorr(f))
  s <- summary(f, ddf = "Satterthwaite")$coefficients
  out <- list(
    random = re, reml = reml, n_distinct_times = length(unique(d$time)),
    neg2_log_likelihood = -2 * as.numeric(logLik(f)),
    coef = as.list(fixef(f)), se = as.list(s[, "Std. Error"]), df_satterthwaite = as.list(s[, "df"]),
    varcomp = list(grp = vc$grp, var1 = ifelse(is.na(vc$var1), "", vc$var1), var2 = ifelse(is.na(vc$var2), "", vc$var2), vcov = vc$vcov)
  )
  em_s <- as.data.frame(contrast(emmeans(f, ~ arm, lmer.df = "satterthwaite"), method = "revpairwise"))
  out$contrast_satterthwaite <- list(estimate = em_s$estimate, se = em_s$SE, df = em_s$df)
  if (reml) {
    em_k <- as.data.frame(contrast(emmeans(f, ~ arm, lmer.df = "kenward-roger"), method = "revpairwise"))
    out$contrast_kenward_roger <- list(estimate = em_k$estimate, se = em_k$SE, df = em_k$df)
    skr <- summary(f, ddf = "Kenward-Roger")$coefficients
    out$se_kenward_roger <- as.list(skr[, "Std. Error"]); out$df_kenward_roger <- as.list(skr[, "df"])
  }
  out
}
write_ref(list(
  source = "tests/reference/r/irregular_lmer.R",
  data = "tests/reference/r/irregular_lmm.csv (SYNTHETIC, make_irregular_lmm.py)",
  session = session(),
  fits = list(ri_reml = one("(1 | pid)", TRUE), ri_ml = one("(1 | pid)", FALSE),
              ris_reml = one("(1 + time | pid)", TRUE), ris_ml = one("(1 + time | pid)", FALSE))
), "irregular_lmer.json")
