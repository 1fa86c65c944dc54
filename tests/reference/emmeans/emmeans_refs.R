# emmeans references for longmod's lsmeans()/contrast() and longmod.lmm():
#  * fev_data (openpharma/mmrm, Apache-2.0): lmer FEV1 ~ RACE + SEX + ARMCD * AVISIT with random
#    intercept (ri) and random intercept + slope on VISITN (ris), REML;
#  * lme4's sleepstudy (written to sleepstudy.csv here): Reaction ~ Days + (1 + Days | Subject)
#    and the uncorrelated (1 | Subject) + (0 + Days | Subject), REML.
# For each fit: fixed effects (lmerTest Satterthwaite and Kenward-Roger df), estimated marginal
# means and contrasts with lmer.df = "kenward-roger" (pbkrtest) and "satterthwaite" (lmerTest),
# adjust = "none", 95% CIs. Writes emmeans_refs.json beside this script.
#   Rscript tests/reference/emmeans/emmeans_refs.R [path/to/fev_data.csv]
suppressPackageStartupMessages({library(lmerTest); library(emmeans); library(pbkrtest); library(jsonlite)})
emm_options(pbkrtest.limit = 1e6, lmerTest.limit = 1e6)  # never fall back to asymptotic df
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
a <- commandArgs(TRUE)
fev_path <- if (length(a)) a[1] else file.path(here, "..", "mmrm", "fev_data.csv")
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-12, maxfun = 1e5))

tab <- function(x) {  # an emmeans summary as named columns
  x <- as.data.frame(x)
  names(x)[names(x) %in% c("emmean", "estimate")] <- "estimate"
  names(x)[names(x) == "SE"] <- "se"
  names(x)[names(x) == "lower.CL"] <- "lower"
  names(x)[names(x) == "upper.CL"] <- "upper"
  for (k in names(x)) if (is.factor(x[[k]])) x[[k]] <- as.character(x[[k]])
  as.list(x)
}
both <- function(make) list(kenward_roger = make("kenward-roger"), satterthwaite = make("satterthwaite"))
fixed <- function(f) {
  s <- summary(f, ddf = "Satterthwaite")$coefficients
  k <- summary(f, ddf = "Kenward-Roger")$coefficients
  list(coef = as.list(fixef(f)), se = as.list(s[, "Std. Error"]), df_satterthwaite = as.list(s[, "df"]),
       se_kenward_roger = as.list(k[, "Std. Error"]), df_kenward_roger = as.list(k[, "df"]))
}
vc <- function(f) { v <- as.data.frame(VarCorr(f)); list(grp = v$grp, var1 = ifelse(is.na(v$var1), "", v$var1),
                                                          var2 = ifelse(is.na(v$var2), "", v$var2), vcov = v$vcov) }

d <- read.csv(fev_path, stringsAsFactors = FALSE)
d$AVISIT <- factor(d$AVISIT, levels = c("VIS1", "VIS2", "VIS3", "VIS4"))
d$ARMCD <- factor(d$ARMCD, levels = c("PBO", "TRT"))
d$RACE <- factor(d$RACE, levels = c("Asian", "Black or African American", "White"))
d$SEX <- factor(d$SEX, levels = c("Male", "Female"))
d <- d[!is.na(d$FEV1), ]
fev <- function(re) {
  f <- lmer(as.formula(paste("FEV1 ~ RACE + SEX + ARMCD * AVISIT +", re)), data = d, REML = TRUE, control = ctrl)
  c(list(random = re, neg2_log_likelihood = -2 * as.numeric(logLik(f)), varcomp = vc(f)), fixed(f), list(
    lsmeans_arm_by_visit = both(function(m) tab(emmeans(f, ~ ARMCD | AVISIT, lmer.df = m))),
    trt_vs_ctrl_by_visit = both(function(m) tab(confint(contrast(emmeans(f, ~ ARMCD | AVISIT, lmer.df = m),
                                                               method = "trt.vs.ctrl", adjust = "none")))),
    lsmeans_arm = both(function(m) tab(emmeans(f, ~ ARMCD, lmer.df = m))),
    lsmeans_sex = both(function(m) tab(emmeans(f, ~ SEX, lmer.df = m))),
    average_vis3_vis4 = both(function(m) tab(confint(contrast(emmeans(f, ~ ARMCD, lmer.df = m,
                                                                    at = list(AVISIT = c("VIS3", "VIS4"))),
                                                            method = "revpairwise", adjust = "none")))),
    weights_vis3_vis4 = both(function(m) tab(confint(contrast(emmeans(f, ~ ARMCD * AVISIT, lmer.df = m),
                                                            list(avg34 = c(0, 0, 0, 0, -0.5, 0.5, -0.5, 0.5)),
                                                            adjust = "none")))),
    pairwise_visit_by_arm = both(function(m) tab(confint(contrast(emmeans(f, ~ AVISIT | ARMCD, lmer.df = m),
                                                                method = "pairwise", adjust = "none"))))
  ))
}

data("sleepstudy", package = "lme4")
write.csv(sleepstudy, file.path(here, "sleepstudy.csv"), row.names = FALSE)
sleep <- function(form) {
  f <- lmer(as.formula(form), data = sleepstudy, REML = TRUE, control = ctrl)
  c(list(formula = form, neg2_log_likelihood = -2 * as.numeric(logLik(f)), varcomp = vc(f),
         singular = isSingular(f, tol = 1e-4)), fixed(f), list(
    lsmeans_days = both(function(m) tab(emmeans(f, ~ Days, at = list(Days = c(0, 4.5, 9)), lmer.df = m))),
    days_9_vs_0 = both(function(m) tab(confint(contrast(emmeans(f, ~ Days, at = list(Days = c(0, 9)), lmer.df = m),
                                                      method = "revpairwise", adjust = "none"))))
  ))
}

res <- list(
  source = "tests/reference/emmeans/emmeans_refs.R",
  session = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                 lmerTest = as.character(packageVersion("lmerTest")), emmeans = as.character(packageVersion("emmeans")),
                 pbkrtest = as.character(packageVersion("pbkrtest"))),
  fev_ri = fev("(1 | USUBJID)"),
  fev_ris = fev("(1 + VISITN | USUBJID)"),
  sleep_ris = sleep("Reaction ~ Days + (1 + Days | Subject)"),
  sleep_ris_diag = sleep("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)")
)
write_json(res, file.path(here, "emmeans_refs.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote", file.path(here, "emmeans_refs.json"), "\n")
