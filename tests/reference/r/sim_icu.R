# R references on the SYNTHETIC ICU-like trial written by make_sim_icu.py (sim_icu.csv):
#  * lme4/lmerTest random intercept + slope on day, REML: Satterthwaite and (pbkrtest)
#    Kenward-Roger; emmeans contrasts msc - placebo at days 0, 7, 14, 28;
#  * nlme::gls heterogeneous AR(1) over visits (corAR1 + varIdent), REML, arm * visit.
# Writes sim_icu.json beside this script:  Rscript tests/reference/r/sim_icu.R
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])), "_common.R"))
suppressPackageStartupMessages({library(lmerTest); library(emmeans); library(nlme)})
emm_options(pbkrtest.limit = 1e6, lmerTest.limit = 1e6)
d <- read.csv(file.path(script_dir(), "sim_icu.csv"), stringsAsFactors = FALSE)
days <- c(0, 1, 2, 3, 4, 5, 6, 7, 14, 21, 28)
d$arm <- factor(d$arm, levels = c("placebo", "msc"))
d$visit <- factor(d$visit, levels = paste0("D", days))
d <- d[!is.na(d$pf), ]
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e5))
f <- lmer(pf ~ arm * day + (1 + day | pid), data = d, REML = TRUE, control = ctrl)
at <- list(day = c(0, 7, 14, 28))
ck <- as.data.frame(contrast(emmeans(f, ~ arm | day, at = at, lmer.df = "kenward-roger"), method = "revpairwise"))
cs <- as.data.frame(contrast(emmeans(f, ~ arm | day, at = at, lmer.df = "satterthwaite"), method = "revpairwise"))
vc <- as.data.frame(VarCorr(f))
g <- gls(pf ~ arm * visit, correlation = corAR1(form = ~ as.integer(visit) | pid),
         weights = varIdent(form = ~ 1 | visit), method = "REML", data = d,
         control = glsControl(tolerance = 1e-10, msTol = 1e-10, maxIter = 500, msMaxIter = 500))
eg <- as.data.frame(contrast(emmeans(g, ~ arm | visit, mode = "df.error"), method = "revpairwise"))
write_ref(list(
  source = "tests/reference/r/sim_icu.R", data = "tests/reference/r/sim_icu.csv (SYNTHETIC, make_sim_icu.py)",
  session = session(),
  lmer = list(neg2_log_likelihood = -2 * as.numeric(logLik(f)), coef = as.list(fixef(f)),
              varcomp = vc$vcov, varcomp_names = paste(vc$grp, vc$var1, vc$var2),
              kenward_roger = list(day = ck$day, estimate = ck$estimate, se = ck$SE, df = ck$df),
              satterthwaite = list(day = cs$day, estimate = cs$estimate, se = cs$SE, df = cs$df)),
  gls_ar1h = list(neg2_log_likelihood = -2 * as.numeric(logLik(g)), coef = as.list(coef(g)),
                  se = as.list(sqrt(diag(vcov(g)))),
                  contrasts = list(visit = as.character(eg$visit), estimate = eg$estimate, se = eg$SE))
), "sim_icu.json")
