# Reference for the random-effects LMMs (native, statsmodels, lme4 engines):
# lme4/lmerTest (Satterthwaite), pbkrtest (Kenward-Roger) and emmeans contrasts
# TRT - PBO at each AVISIT, on openpharma/mmrm's fev_data, REML and ML.
# Writes fev_lmer.json beside this script.
#   Rscript tests/reference/r/fev_lmer.R [path/to/fev_data.csv]
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])), "_common.R"))
suppressPackageStartupMessages({library(lmerTest); library(emmeans); library(pbkrtest)})
emm_options(pbkrtest.limit = 1e6, lmerTest.limit = 1e6)  # never fall back to asymptotic df
d <- read_fev()
d <- d[!is.na(d$FEV1), ]
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5))
one <- function(re, reml) {
  f <- lmer(as.formula(paste("FEV1 ~ RACE + SEX + ARMCD * AVISIT +", re)), data = d, REML = reml, control = ctrl)
  vc <- as.data.frame(VarCorr(f))
  s <- summary(f, ddf = "Satterthwaite")$coefficients
  out <- list(
    random = re, reml = reml,
    neg2_log_likelihood = -2 * as.numeric(logLik(f)),
    coef = as.list(fixef(f)), se = as.list(s[, "Std. Error"]), df_satterthwaite = as.list(s[, "df"]),
    varcomp = list(grp = vc$grp, var1 = ifelse(is.na(vc$var1), "", vc$var1), var2 = ifelse(is.na(vc$var2), "", vc$var2), vcov = vc$vcov)
  )
  em_s <- as.data.frame(contrast(emmeans(f, ~ ARMCD | AVISIT, lmer.df = "satterthwaite"), method = "revpairwise"))
  out$contrasts_satterthwaite <- list(visit = as.character(em_s$AVISIT), estimate = em_s$estimate, se = em_s$SE, df = em_s$df)
  if (reml) {
    em_k <- as.data.frame(contrast(emmeans(f, ~ ARMCD | AVISIT, lmer.df = "kenward-roger"), method = "revpairwise"))
    out$contrasts_kenward_roger <- list(visit = as.character(em_k$AVISIT), estimate = em_k$estimate, se = em_k$SE, df = em_k$df)
    skr <- summary(f, ddf = "Kenward-Roger")$coefficients
    out$se_kenward_roger <- as.list(skr[, "Std. Error"]); out$df_kenward_roger <- as.list(skr[, "df"])
  }
  out
}
write_ref(list(
  source = "tests/reference/r/fev_lmer.R",
  data = "shared/reference/mmrm/fev_data.csv (openpharma/mmrm, Apache-2.0), rows with FEV1 only",
  session = session(),
  fits = list(ri_reml = one("(1 | USUBJID)", TRUE), ri_ml = one("(1 | USUBJID)", FALSE),
              ris_reml = one("(1 + VISITN | USUBJID)", TRUE), ris_ml = one("(1 + VISITN | USUBJID)", FALSE))
), "fev_lmer.json")
